"""Policy engines: embedded regorus (default) and an OPA server (``GATEWARD_OPA_URL``).

Both evaluate ``data.gateward.decision`` over the same rules and data and return the same
:class:`core.kernel.models.Decision`. Both fail closed (policies/base.py): an evaluation error, a
timeout, an undefined decision or a result that is not exactly the decision shape becomes a deny
whose reason says which, never an exception and never an allow.

Embedded engine notes (celine-regorus):

* the input always goes in as JSON text (``set_input_json``): ``set_input(dict)`` turns Python
  ``False`` into ``0.0``, which would make ``c.value == false`` silently undefined;
* ``regorus.Engine`` is *unsendable*: an engine (or its ``clone()``) may only be used on the
  thread that created it. Each thread therefore builds its own engine from the already-read
  sources, once, and keeps it (a module-level ``threading.local``, freed on its own thread);
* regorus cannot be interrupted mid-evaluation, so the timeout is a deadline checked when the
  evaluation returns: a late decision is discarded and denied. Rego evaluation always
  terminates, and the pack keeps its loops linear in the input, so a late answer means an
  overloaded host, which is exactly when a deny is the safe answer.
* the decision itself runs on regorus's bytecode VM (RVM, ``regorus.regorus.Program``/``Rvm``:
  the binding has it but does not re-export it), about four times faster than the interpreter.
  The interpreter stays the reference: ``evaluate``/``query`` (the OPA-API server, the Rego
  tests) use it, and the decision falls back to it whenever the VM cannot answer (the pack does
  not compile for the VM, the VM's 25,000-instruction budget runs out on a large document, an
  error, an undefined or malformed result). The VM of celine-regorus 0.9.1 decides some Rego
  differently (policies/vmcheck.py): the pack is checked against those constructs, the engine
  refuses to start when VM and interpreter disagree on the self-check inputs, and
  tests/policies/test_pack_equivalence.py compares both on the seeded corpus under every mode.
  ``evaluator="interpreter"`` (``GATEWARD_POLICY_EVALUATOR``) switches the VM off.
* the VM evaluates ``data.gateward.checked_decision``, the decision without the pack's coarse
  input-shape check: every document reaching it has passed :func:`check_input`, which implies
  that check (policies/README.md, "Keeping a decision cheap", has where the time goes).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
import regorus
from regorus import regorus as regorus_native  # Program/Rvm: built in, not re-exported

from core.kernel.jsontypes import Json
from core.kernel.models import ApprovalRequirement, Decision, PolicyItem
from policies import items
from policies.base import PolicyEngine
from policies.loader import (
    CHECKED_DECISION_RULE,
    DECISION_RULE,
    PolicyLoadError,
    PolicySources,
    clean_error,
    load_sources,
)
from policies.schema import PolicyInput
from policies.validate import InputError, check_input

log = logging.getLogger(__name__)

__all__ = [
    "DetailedDecision",
    "EmbeddedRegoEngine",
    "MalformedDecision",
    "OpaServerEngine",
    "PolicyLoadError",
    "load_engine",
    "parse_decision",
]

_UNDEFINED = '"<undefined>"'
EVALUATORS = ("vm", "interpreter")
# The VM stops after 25,000 instructions (fixed in this binding); a document past this size would
# spend them and fall back anyway (~50 devices), so it goes to the interpreter directly.
VM_MAX_INPUT_BYTES = 16_384

# regorus errors are anyhow errors: with RUST_BACKTRACE=1 in the environment each one captures
# and symbolises a Rust backtrace (~250 ms the first time, milliseconds after) that clean_error
# throws away. Evaluation errors are part of normal operation here (fail closed, VM fallback).
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")


class DetailedDecision(NamedTuple):
    """A decision plus what rule sets in ``dryrun`` mode would have denied (kept apart from
    ``Decision`` so that nothing in core.kernel.models changes; the lead stores it alongside)."""

    decision: Decision
    would_deny: list[str]


class MalformedDecision(ValueError):
    """The policy answered, but not with the decision shape; ``str()`` names the field."""


def parse_decision(result: Json) -> DetailedDecision:
    """Validate a raw ``data.gateward.decision`` value strictly and build the Decision.

    The pack answers in items (``{code, message, params}``, policies/items.py); the message lists
    of :class:`Decision` (``deny``, ``obligations``, ``warnings``, each approval's ``reason``) are
    derived here from the items, in the same order, so that what people read is unchanged.

    Raises :class:`MalformedDecision` naming the first missing or ill-typed field. Extra fields
    are ignored (a newer pack may add some); ``would_deny`` is optional for the same reason.
    """
    allowed = _plain_allow(result)
    if allowed is not None:
        return allowed
    return _parse_decision(result)


_NOTHING_ATTACHED = ("deny", "approvals_required", "obligations", "warnings", "would_deny")


def _plain_allow(result: Json) -> DetailedDecision | None:
    """The usual answer, an allow with no item at all (a one-device change inside every limit),
    built directly: ~1 µs instead of the ~4 µs of the general parse. None for anything else
    (including a risk that is not a number within 0..1, NaN too), which the general parse takes."""
    if type(result) is not dict or result.get("allow") is not True:
        return None
    risk = result.get("risk")
    if not (type(risk) is float or type(risk) is int) or not 0 <= risk <= 1:
        return None
    for key in _NOTHING_ATTACHED:
        value = result.get(key)
        if type(value) is not list or value:
            return None
    decision = items.construct(
        Decision, allow=True, deny=[], approvals_required=[], risk=float(risk), obligations=[], warnings=[],
        deny_items=[], obligation_items=[], warning_items=[],
    )
    return DetailedDecision(decision, [])


def _parse_decision(result: Json) -> DetailedDecision:
    """:func:`parse_decision` for any document: every field checked, items parsed and ordered."""
    if not isinstance(result, dict):
        raise MalformedDecision(f"expected an object, got {type(result).__name__}")
    if "allow" not in result:
        raise MalformedDecision("field 'allow' is missing")
    allow = result["allow"]
    if not isinstance(allow, bool):
        raise MalformedDecision(f"field 'allow' must be a boolean, got {type(allow).__name__}")
    try:
        deny = _ordered(result, "deny", items.by_message)
        approvals = _approvals(result)
        obligations = _ordered(result, "obligations", items.ordered_obligations)
        warnings = _ordered(result, "warnings", items.by_message)
        would_deny = items.messages(_ordered(result, "would_deny", items.by_message, optional=True))
    except items.MalformedItem as exc:
        raise MalformedDecision(str(exc)) from exc
    if "risk" not in result:
        raise MalformedDecision("field 'risk' is missing")
    risk = result["risk"]
    if isinstance(risk, bool) or not isinstance(risk, int | float) or math.isnan(risk):
        raise MalformedDecision(f"field 'risk' must be a number, got {type(risk).__name__}")
    if not 0 <= risk <= 1:
        raise MalformedDecision(f"field 'risk' must be within 0..1, got {risk}")
    if allow and deny:
        raise MalformedDecision("field 'allow' is true while 'deny' lists reasons")
    if not allow and not deny:
        deny = [items.construct(PolicyItem, code="policy.no_reason",
                                message="policy denied without giving a reason", params={})]
    # Every field was checked above; construct skips a second, slower validation pass.
    decision = items.construct(
        Decision,
        allow=allow,
        deny=items.messages(deny),
        approvals_required=approvals,
        risk=float(risk),
        obligations=items.messages(obligations),
        warnings=items.messages(warnings),
        deny_items=deny,
        obligation_items=obligations,
        warning_items=warnings,
    )
    return DetailedDecision(decision, would_deny)


def _ordered(
    result: Mapping[str, Json],
    key: str,
    order: Callable[[list[PolicyItem]], list[PolicyItem]],
    *,
    optional: bool = False,
) -> list[PolicyItem]:
    """``result[key]`` parsed and put in order. Fast path: most lists of most decisions are empty
    (an allowed one-device change has no deny, warning or obligation), and an empty list needs
    neither parsing nor sorting; anything else, a missing key included, takes the checked path."""
    raw = result.get(key)
    if type(raw) is list and not raw:
        return []
    return order(items.parse_items(result, key, optional=optional))


def _approvals(result: Mapping[str, Json]) -> list[ApprovalRequirement]:
    """``approvals_required``: one ``{role, items}`` per role, sorted by role; ``reason`` is the
    items' messages joined (what approvers have always read)."""
    if "approvals_required" not in result:
        raise MalformedDecision("field 'approvals_required' is missing")
    raw_approvals = result["approvals_required"]
    if not isinstance(raw_approvals, list):
        raise MalformedDecision("field 'approvals_required' must be a list")
    by_role: dict[str, list[PolicyItem]] = {}
    for i, item in enumerate(raw_approvals):
        if not isinstance(item, dict):
            raise MalformedDecision(f"field 'approvals_required'[{i}] must be an object")
        role = item.get("role")
        if not isinstance(role, str) or not role:
            raise MalformedDecision(f"field 'approvals_required'[{i}].role must be a non-empty string")
        try:
            found = items.parse_items(item, "items")
        except items.MalformedItem as exc:
            raise MalformedDecision(f"field 'approvals_required'[{i}]: {exc}") from exc
        by_role.setdefault(role, []).extend(found)
    return [approval(role, found) for role, found in sorted(by_role.items())]


def canonical(result: Json) -> Json:
    """A raw decision with its set-valued lists in one order (the VM and the interpreter may
    enumerate a set differently; obligations keep theirs: plan order)."""
    if not isinstance(result, dict):
        return result

    def dump(x: Json) -> str:
        return orjson.dumps(x, option=orjson.OPT_SORT_KEYS).decode()

    out = dict(result)
    for key in ("deny", "warnings", "would_deny"):
        if isinstance(result.get(key), list):
            out[key] = sorted(dump(x) for x in result[key])
    if isinstance(result.get("approvals_required"), list):
        out["approvals_required"] = sorted(
            dump({**a, "items": sorted(dump(i) for i in a.get("items", []))}) if isinstance(a, dict) else dump(a)
            for a in result["approvals_required"])
    return out


def approval(role: str, found: list[PolicyItem]) -> ApprovalRequirement:
    """One role's requirement from its items (sorted, once each); shared with the fleet merge."""
    ordered = items.by_message(found)
    reason = "; ".join(dict.fromkeys(items.messages(ordered)))
    return items.construct(ApprovalRequirement, role=role, reason=reason, items=ordered)


def _fail(reason: str, code: str) -> DetailedDecision:
    return DetailedDecision(Decision.fail_closed(reason, code), [])


def _as_doc(input_doc: Mapping[str, Json] | PolicyInput) -> Mapping[str, Json]:
    return input_doc.to_doc() if isinstance(input_doc, PolicyInput) else input_doc


def _checked(
    input_doc: Mapping[str, Json] | PolicyInput,
) -> tuple[Mapping[str, Json] | None, DetailedDecision | None]:
    """The plain document, or the fail-closed decision that says why it cannot be evaluated."""
    try:
        doc = _as_doc(input_doc)
        check_input(doc)
    except InputError as exc:
        return None, _fail(f"policy input invalid: {exc}", "policy.input_invalid")
    except Exception as exc:  # e.g. a PolicyInput that cannot serialise: still a deny
        return None, _fail(f"policy input invalid: {type(exc).__name__}: {exc}", "policy.input_invalid")
    return doc, None


class _EvalFailure(Exception):
    """Internal: evaluation did not produce a value (error, undefined, timeout); ``code`` is the
    fail-closed deny's code."""

    def __init__(self, message: str, code: str = "policy.error") -> None:
        super().__init__(message)
        self.code = code


# Each thread's regorus objects, per engine (its token): a module-level thread-local, so that a
# thread's objects are freed only on that thread — when it ends, or when it next looks here after
# their engine was collected (_LIVE). An engine's own threading.local was freed whole, on whichever
# thread the garbage collector ran: every other thread's objects dropped there, leaked with
# "regoruspy::Engine is unsendable, but is being dropped on another thread".
_PER_THREAD = threading.local()
_LIVE: set[int] = set()  # tokens of engines not yet collected; a finaliser only discards an int
_TOKENS = itertools.count(1)


def _thread_slot(token: int) -> dict[str, Any]:
    """This thread's objects of the engine ``token``; first, this thread's objects of engines
    since collected are dropped, here, on their own thread."""
    slots: dict[int, dict[str, Any]] | None = getattr(_PER_THREAD, "slots", None)
    if slots is None:
        slots = _PER_THREAD.slots = {}
    if len(slots) > 1 or token not in slots:
        for dead in [t for t in slots if t not in _LIVE]:
            del slots[dead]
    return slots.setdefault(token, {})


class EmbeddedRegoEngine(PolicyEngine):
    """regorus in-process: the default, ~0.15 ms per one-device decision, no network in the way."""

    name = "embedded"

    def __init__(
        self,
        rules_dir: str | Any | None = None,
        data_dir: str | Any | None = None,
        timeout_ms: float = 500,
        *,
        self_check: bool = True,
        evaluator: str = "vm",
    ) -> None:
        if evaluator not in EVALUATORS:
            raise ValueError(f"evaluator must be one of {', '.join(EVALUATORS)}, got {evaluator!r}")
        self._sources: PolicySources = load_sources(rules_dir, data_dir)
        self.timeout_ms = float(timeout_ms)
        self._token = next(_TOKENS)
        _LIVE.add(self._token)
        weakref.finalize(self, _LIVE.discard, self._token)
        self._engine()  # parse now: a syntax error is a PolicyLoadError at construction
        # The decision compiled for the VM, once; each thread loads it into its own Rvm. A pack
        # that uses a construct the VM gets wrong (policies/vmcheck.py) is never decided on the VM:
        # an operator's own rules may contain one, and the VM would not say so — it would decide.
        self.vm_entry_point = DECISION_RULE
        self._program: bytes | None = (self._compile() if evaluator == "vm" and not vm_hazards(self._sources)
                                       else None)
        self._data_json = self._sources.data_json() if self._program is not None else ""
        if self._program is not None:
            try:
                self._vm()  # this thread's VM now: a program that does not load turns the VM off
            except Exception:
                self._program = None
        self.evaluator = "vm" if self._program is not None else "interpreter"
        if self_check:
            self._self_check()

    # -- loading ---------------------------------------------------------------------------

    @property
    def revision(self) -> str:
        return self._sources.revision

    @property
    def sources(self) -> PolicySources:
        return self._sources

    @property
    def policy_data(self) -> dict[str, Any]:
        """The tree mounted at ``data.gateward.data`` (read-only by convention)."""
        return self._sources.data

    def _build(self) -> regorus.Engine:
        engine = regorus.Engine()
        engine.set_rego_v0(False)
        failed: tuple[str, str] | None = None
        for name, text in self._sources.rules:
            try:
                engine.add_policy(name, text)
            except Exception as exc:  # regorus raises RuntimeError with the parser's message
                failed = (name, clean_error(exc))
                break
        if failed is None:
            try:
                engine.add_data_json(self._sources.data_json())
            except Exception as exc:
                failed = ("data", clean_error(exc))
        if failed is not None:
            del engine  # freed here, on its own thread, not with a traceback kept elsewhere (evaluate)
            raise PolicyLoadError(*failed)
        return engine

    def _engine(self) -> regorus.Engine:
        slot = _thread_slot(self._token)
        engine = slot.get("engine")
        if engine is None:
            engine = slot["engine"] = self._build()
        return engine

    def _compile(self) -> bytes | None:
        """The decision as RVM bytecode, or None when this pack does not compile for the VM (the
        interpreter then decides alone; the shipped pack compiles, a test says so).

        The VM evaluates ``data.gateward.checked_decision``: only documents that passed
        :func:`check_input` reach it, and that check implies the pack's coarse shape check
        (``gateward.input.ok``), which would otherwise be paid again on every decision. A pack
        without that rule (an operator's own) is compiled at ``data.gateward.decision``."""
        for entry in (CHECKED_DECISION_RULE, DECISION_RULE):
            try:
                program = regorus_native.Program.compile_from_modules(
                    self._sources.data_json(), list(self._sources.rules), [entry])
                self.vm_entry_point = entry
                return bytes(program.serialize_binary())
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                continue
        return None

    def close(self) -> None:
        """Drop this thread's engine and VM here, on the thread that made them: regorus's objects
        may only be freed on their own thread, and left to the garbage collector they were freed —
        leaked, with a warning — on whichever thread it happened to run (a web server's)."""
        getattr(_PER_THREAD, "slots", {}).pop(self._token, None)

    def _vm(self) -> Any:
        slot = _thread_slot(self._token)
        vm = slot.get("vm")
        if vm is None:
            assert self._program is not None  # only called when the VM is on
            program, partial = regorus_native.Program.deserialize_binary(self._program)
            if partial:  # part of the program did not load: not a program to decide with
                raise RuntimeError("the compiled decision deserialised only in part")
            vm = regorus_native.Rvm()
            vm.load_program(program)
            vm.set_data_json(self._data_json)
            slot["vm"] = vm
        return vm

    def _vm_decision(self, input_json: str) -> Json:
        """The decision on the VM (``vm_entry_point``) for a document that passed
        :func:`check_input`, or None when the VM cannot answer with an object (no VM, an input
        over VM_MAX_INPUT_BYTES, an error, the instruction budget spent, undefined): then the
        interpreter decides."""
        if self._program is None or len(input_json) > VM_MAX_INPUT_BYTES:
            return None
        try:
            vm = self._vm()
            vm.set_input_json(input_json)
            raw = vm.execute()
            return orjson.loads(raw) if raw.startswith("{") else None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # the compiler/VM may panic (pyo3 PanicException); the interpreter is the reference
            return None

    def _evaluate_decision(self, input_json: str) -> Json:
        """``data.gateward.decision`` for a JSON input: the VM's answer when it has one, otherwise
        the interpreter's, error or undefined included."""
        result = self._vm_decision(input_json)
        return result if result is not None else self.evaluate(DECISION_RULE, input_json)

    def _self_check(self) -> None:
        """Evaluate a few normal proposals: an undefined function or a rule that errors on a
        well-formed input surfaces now, as a load error, instead of denying every proposal."""
        from policies import samples

        for name, doc in samples.self_check_inputs():
            payload = orjson.dumps(doc).decode()
            try:
                reference = self.evaluate(DECISION_RULE, payload)
                parse_decision(reference)
            except (_EvalFailure, MalformedDecision) as exc:
                raise PolicyLoadError("self-check", f"{name}: {exc}") from exc
            if self._program is None or _checked(doc)[1] is not None:
                continue  # the VM only ever sees documents that pass the input check
            if canonical(self._evaluate_decision(payload)) != canonical(reference):
                raise PolicyLoadError(
                    "self-check", f"{name}: the bytecode VM decides differently from the interpreter "
                    "(policies/vmcheck.py lists the constructs it gets wrong; "
                    "GATEWARD_POLICY_EVALUATOR=interpreter switches it off)")

    # -- evaluation ------------------------------------------------------------------------

    def _ask(self, input_json: str | None, ask: Callable[[regorus.Engine], str]) -> str:
        """``ask`` this thread's engine, the input set; its JSON answer, or ``_EvalFailure``.
        Raised only once no frame of this call holds the engine: a traceback keeps its frames,
        and one kept past this thread's end would free the engine on whichever thread collects
        it (_PER_THREAD)."""
        engine = self._engine()
        error = raw = None
        try:
            engine.set_input_json(input_json if input_json is not None else "null")
            raw = ask(engine)
        except Exception as exc:
            error = clean_error(exc)
        del engine
        if error is not None or raw is None:
            raise _EvalFailure(f"policy error: {error}")
        return raw

    def evaluate(self, rule: str, input_json: str | None) -> Json:
        """Evaluate one rule path (``data.a.b``) for a JSON input; raise ``_EvalFailure`` when
        it errors or is undefined. Used by ``decide`` and by the OPA-API server."""
        raw = self._ask(input_json, lambda e: str(e.eval_rule_as_json(rule)))
        if raw == _UNDEFINED:
            raise _EvalFailure(f"policy undefined: {rule} has no value", "policy.undefined")
        value: Json = orjson.loads(raw)
        return value

    def query(self, query: str, input_json: str | None) -> list[Json]:
        """Evaluate a query and return its values (empty list = undefined). For the OPA-API
        server, which must answer undefined paths with ``{}`` rather than an error."""
        raw = self._ask(input_json, lambda e: str(e.eval_query_as_json(query)))
        out = orjson.loads(raw)
        values: list[Json] = []
        for row in out.get("result", []):
            for expr in row.get("expressions", []):
                values.append(expr.get("value"))
        return values

    def decide_detailed(self, input_doc: Mapping[str, Json] | PolicyInput) -> DetailedDecision:
        """The decision and the ``would_deny`` list of dryrun rule sets. Never raises."""
        start = time.perf_counter()
        doc, failed = _checked(input_doc)
        if failed is not None:
            return failed
        try:
            payload = orjson.dumps(doc).decode()
        except (TypeError, orjson.JSONEncodeError) as exc:
            return _fail(f"policy input is not JSON-serialisable: {exc}", "policy.input_invalid")
        parsed: DetailedDecision | None = None
        try:
            result = self._vm_decision(payload)
            if result is not None:
                try:
                    parsed = parse_decision(result)
                except MalformedDecision:
                    # e.g. an "<undefined>" element, which the VM makes where the interpreter
                    # makes none (policies/README.md): the interpreter's answer decides.
                    parsed = None
            if parsed is None:
                result = self.evaluate(DECISION_RULE, payload)
        except PolicyLoadError as exc:  # a thread's first build failed (cannot happen after init)
            return _fail(f"policy unavailable: {exc}", "policy.unavailable")
        except _EvalFailure as exc:
            return _fail(str(exc), exc.code)
        except Exception as exc:  # the contract: decide never raises
            return _fail(f"policy error: {clean_error(exc)}", "policy.error")
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > self.timeout_ms:
            return _fail(
                f"policy timeout: evaluation took {elapsed_ms:.1f} ms (limit {self.timeout_ms:g} ms)",
                "policy.timeout",
            )
        if parsed is not None:
            return parsed
        try:
            return parse_decision(result)
        except MalformedDecision as exc:
            return _fail(f"policy returned a malformed decision: {exc}", "policy.malformed")

    def decide(self, input_doc: Mapping[str, Json]) -> Decision:
        return self.decide_detailed(input_doc).decision


class OpaServerEngine(PolicyEngine):
    """An OPA server (sidecar) through ``opa-python-client``: POST /v1/data/gateward/decision.

    The server is expected to run the bundle written by :func:`policies.bundle.write_bundle`
    from the same rules and data, so :attr:`revision` is computed from the local pack.
    """

    name = "opa"

    def __init__(
        self,
        url: str,
        timeout_ms: float = 500,
        *,
        rules_dir: str | Any | None = None,
        data_dir: str | Any | None = None,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        from opa_client.opa import OpaClient

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA URL {url!r} must look like http://host:8181")
        if parts.path not in ("", "/"):
            raise ValueError(f"OPA URL {url!r} must not have a path; the client adds /v1/data/...")
        if ca_file is not None:
            if parts.scheme != "https":
                raise ValueError(f"GATEWARD_OPA_CA_FILE is set but the OPA URL {url!r} is not https")
            _check_ca_file(ca_file)
        self.url = url.rstrip("/")
        self.timeout_ms = float(timeout_ms)
        self._sources = load_sources(rules_dir, data_dir)
        port = parts.port or (443 if parts.scheme == "https" else 8181)
        # retries=0: a retry would blow the decision's time budget; the deny says to try again.
        self._client = OpaClient(
            host=parts.hostname,
            port=port,
            ssl=parts.scheme == "https",
            retries=0,
            timeout=self.timeout_ms / 1000.0,
            token=token,
        )
        # A sidecar is reached directly: no proxy from the environment, no .netrc lookups (which
        # requests repeats on every call, costing milliseconds per decision).
        session = getattr(self._client, "_session", None)
        if session is not None:
            session.trust_env = False
            if ca_file is not None:  # the operator's CA instead of the public bundle (opa-python-client's ssl=True)
                session.verify = ca_file

    @property
    def revision(self) -> str:
        return self._sources.revision

    @property
    def policy_data(self) -> dict[str, Any]:
        return self._sources.data

    def decide_detailed(self, input_doc: Mapping[str, Json] | PolicyInput) -> DetailedDecision:
        import requests

        start = time.perf_counter()
        doc, failed = _checked(input_doc)
        if failed is not None:
            return failed
        try:
            # Round-trip through orjson: the same serialisation rules as the embedded engine
            # (and a non-JSON input fails here, closed, instead of inside requests).
            doc = orjson.loads(orjson.dumps(doc))
        except (TypeError, orjson.JSONEncodeError) as exc:
            return _fail(f"policy input is not JSON-serialisable: {exc}", "policy.input_invalid")
        try:
            body = self._client.query_rule(input_data=doc, package_path="gateward", rule_name="decision")
        except requests.exceptions.Timeout:
            return _fail(
                f"policy unavailable: OPA at {self.url} did not answer within {self.timeout_ms:g} ms",
                "policy.unavailable",
            )
        except requests.exceptions.HTTPError as exc:
            resp = exc.response
            status = resp.status_code if resp is not None else "?"
            detail = ""
            if resp is not None:
                try:
                    detail = str(resp.json().get("message", ""))
                except ValueError:
                    detail = resp.text[:200]
            return _fail(
                f"policy unavailable: OPA at {self.url} answered HTTP {status}: {detail}".rstrip(": "),
                "policy.unavailable",
            )
        except requests.exceptions.SSLError as exc:
            return _fail(f"policy unavailable: TLS with OPA at {self.url} failed ({_tls_reason(exc)}); check "
                         "GATEWARD_OPA_CA_FILE (the CA that signed OPA's certificate)", "policy.unavailable")
        except requests.exceptions.RequestException as exc:
            return _fail(f"policy unavailable: cannot reach OPA at {self.url}: {type(exc).__name__}",
                         "policy.unavailable")
        except ValueError:
            return _fail(f"policy unavailable: OPA at {self.url} answered with malformed JSON", "policy.unavailable")
        except Exception as exc:  # the contract: decide never raises
            return _fail(f"policy unavailable: {type(exc).__name__}: {exc}", "policy.unavailable")
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > self.timeout_ms:
            return _fail(f"policy timeout: OPA took {elapsed_ms:.1f} ms (limit {self.timeout_ms:g} ms)",
                         "policy.timeout")
        if not isinstance(body, dict) or "result" not in body:
            return _fail(
                "policy undefined: data.gateward.decision has no value on the OPA server "
                "(is the gateward bundle loaded?)",
                "policy.undefined",
            )
        try:
            return parse_decision(body["result"])
        except MalformedDecision as exc:
            return _fail(f"policy returned a malformed decision: {exc}", "policy.malformed")

    def decide(self, input_doc: Mapping[str, Json]) -> Decision:
        return self.decide_detailed(input_doc).decision

    def healthy(self) -> bool:
        try:
            return bool(self._client.check_health())
        except Exception:  # unreachable, TLS refused: not healthy, never an exception for a probe
            return False

    def close(self) -> None:
        self._client.close_connection()


def _check_ca_file(path: str) -> None:
    """Refuse to start with a CA bundle that cannot be used (one line naming the setting)."""
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"GATEWARD_OPA_CA_FILE={path}: not a usable CA bundle "
                         f"({getattr(exc, 'strerror', None) or exc})") from None


def _tls_reason(exc: BaseException) -> str:
    """The innermost TLS reason behind a requests error ("certificate verify failed: …"):
    requests wraps urllib3's error, which wraps the ``ssl`` one (in ``args``, ``reason`` or the chain)."""
    import ssl

    todo: list[object] = [exc]
    for _ in range(16):
        if not todo:
            break
        seen = todo.pop(0)
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or seen)
        if isinstance(seen, BaseException):
            todo.extend(x for x in (getattr(seen, "reason", None), seen.__cause__, seen.__context__, *seen.args)
                        if isinstance(x, BaseException))
    return str(exc)[:200]


_HAZARDS: dict[str, bool] = {}
_HAZARDS_GUARD = threading.Lock()


def vm_hazards(sources: PolicySources) -> bool:
    """Whether ``sources`` use a construct the VM decides differently from Rego (checked once per
    pack revision per process: the check parses every module, ~0.1 s)."""
    with _HAZARDS_GUARD:
        found = _HAZARDS.get(sources.revision)
        if found is None:
            from policies.vmcheck import check_sources

            hazards = check_sources(sources)
            if hazards:
                log.warning("policy pack %s: %d construct(s) the bytecode VM decides differently (first: %s); "
                            "deciding with the interpreter", sources.revision[:12], len(hazards), hazards[0])
            found = _HAZARDS[sources.revision] = bool(hazards)
    return found


def load_engine(settings: Any | None = None) -> PolicyEngine:
    """The engine the settings ask for: OPA when ``opa_url`` is set, embedded otherwise.

    Raises :class:`PolicyLoadError` when the pack cannot load: the caller refuses to start.
    """
    if settings is None:
        from core.kernel.config import get_settings

        settings = get_settings()
    timeout_ms = getattr(settings, "policy_timeout_ms", 500)
    opa_url = getattr(settings, "opa_url", None)
    if opa_url:
        token: Any = getattr(settings, "opa_token", None)
        secret = token.get_secret_value() if hasattr(token, "get_secret_value") else token
        return OpaServerEngine(str(opa_url), timeout_ms, token=secret or None,
                               ca_file=getattr(settings, "opa_ca_file", None) or None)
    evaluator = getattr(settings, "policy_evaluator", None) or os.environ.get("GATEWARD_POLICY_EVALUATOR") or "vm"
    return EmbeddedRegoEngine(timeout_ms=timeout_ms, evaluator=str(evaluator))
