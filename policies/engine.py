"""Policy engines: embedded regorus (default) and an OPA server (``GATEWARD_OPA_URL``).

Both evaluate ``data.gateward.decision`` over the same rules and data and return the same
:class:`core.models.Decision`. Both fail closed (policies/base.py): an evaluation error, a
timeout, an undefined decision or a result that is not exactly the decision shape becomes a deny
whose reason says which, never an exception and never an allow.

Embedded engine notes (celine-regorus):

* the input always goes in as JSON text (``set_input_json``): ``set_input(dict)`` turns Python
  ``False`` into ``0.0``, which would make ``c.value == false`` silently undefined;
* ``regorus.Engine`` is *unsendable*: an engine (or its ``clone()``) may only be used on the
  thread that created it. Each thread therefore builds its own engine from the already-read
  sources, once, and keeps it (``threading.local``);
* regorus cannot be interrupted mid-evaluation, so the timeout is a deadline checked when the
  evaluation returns: a late decision is discarded and denied. Rego evaluation always
  terminates, and the pack keeps its loops linear in the input, so a late answer means an
  overloaded host, which is exactly when a deny is the safe answer.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
import regorus

from core.models import ApprovalRequirement, Decision
from policies.base import PolicyEngine
from policies.loader import (
    DECISION_RULE,
    PolicyLoadError,
    PolicySources,
    clean_error,
    load_sources,
)
from policies.schema import PolicyInput
from policies.validate import InputError, check_input

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


class DetailedDecision(NamedTuple):
    """A decision plus what rule sets in ``dryrun`` mode would have denied (kept apart from
    ``Decision`` so that nothing in core.models changes; the lead stores it alongside)."""

    decision: Decision
    would_deny: list[str]


class MalformedDecision(ValueError):
    """The policy answered, but not with the decision shape; ``str()`` names the field."""


def _string_list(obj: dict[str, Any], key: str, *, optional: bool = False) -> list[str]:
    if key not in obj:
        if optional:
            return []
        raise MalformedDecision(f"field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, list):
        raise MalformedDecision(f"field {key!r} must be a list of strings, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise MalformedDecision(f"field {key!r}[{i}] must be a string, got {type(item).__name__}")
    return value


def parse_decision(result: Any) -> DetailedDecision:
    """Validate a raw ``data.gateward.decision`` value strictly and build the Decision.

    Raises :class:`MalformedDecision` naming the first missing or ill-typed field. Extra fields
    are ignored (a newer pack may add some); ``would_deny`` is optional for the same reason.
    """
    if not isinstance(result, dict):
        raise MalformedDecision(f"expected an object, got {type(result).__name__}")
    if "allow" not in result:
        raise MalformedDecision("field 'allow' is missing")
    allow = result["allow"]
    if not isinstance(allow, bool):
        raise MalformedDecision(f"field 'allow' must be a boolean, got {type(allow).__name__}")
    deny = _string_list(result, "deny")
    if "approvals_required" not in result:
        raise MalformedDecision("field 'approvals_required' is missing")
    raw_approvals = result["approvals_required"]
    if not isinstance(raw_approvals, list):
        raise MalformedDecision("field 'approvals_required' must be a list")
    approvals: list[ApprovalRequirement] = []
    for i, item in enumerate(raw_approvals):
        if not isinstance(item, dict):
            raise MalformedDecision(f"field 'approvals_required'[{i}] must be an object")
        role, reason = item.get("role"), item.get("reason")
        if not isinstance(role, str) or not role:
            raise MalformedDecision(f"field 'approvals_required'[{i}].role must be a non-empty string")
        if not isinstance(reason, str):
            raise MalformedDecision(f"field 'approvals_required'[{i}].reason must be a string")
        approvals.append(ApprovalRequirement.model_construct(role=role, reason=reason))
    if "risk" not in result:
        raise MalformedDecision("field 'risk' is missing")
    risk = result["risk"]
    if isinstance(risk, bool) or not isinstance(risk, int | float) or math.isnan(risk):
        raise MalformedDecision(f"field 'risk' must be a number, got {type(risk).__name__}")
    if not 0 <= risk <= 1:
        raise MalformedDecision(f"field 'risk' must be within 0..1, got {risk}")
    obligations = _string_list(result, "obligations")
    warnings = _string_list(result, "warnings")
    would_deny = _string_list(result, "would_deny", optional=True)
    if allow and deny:
        raise MalformedDecision("field 'allow' is true while 'deny' lists reasons")
    if not allow and not deny:
        deny = ["policy denied without giving a reason"]
    # Every field was checked above; model_construct skips a second, slower validation pass.
    decision = Decision.model_construct(
        allow=allow,
        deny=deny,
        approvals_required=approvals,
        risk=float(risk),
        obligations=obligations,
        warnings=warnings,
    )
    return DetailedDecision(decision, would_deny)


def _fail(reason: str) -> DetailedDecision:
    return DetailedDecision(Decision.fail_closed(reason), [])


def _as_doc(input_doc: dict[str, Any] | PolicyInput) -> dict[str, Any]:
    return input_doc.to_doc() if isinstance(input_doc, PolicyInput) else input_doc


def _checked(
    input_doc: dict[str, Any] | PolicyInput,
) -> tuple[dict[str, Any] | None, DetailedDecision | None]:
    """The plain document, or the fail-closed decision that says why it cannot be evaluated."""
    try:
        doc = _as_doc(input_doc)
        check_input(doc)
    except InputError as exc:
        return None, _fail(f"policy input invalid: {exc}")
    except Exception as exc:  # e.g. a PolicyInput that cannot serialise: still a deny
        return None, _fail(f"policy input invalid: {type(exc).__name__}: {exc}")
    return doc, None


class _EvalFailure(Exception):
    """Internal: evaluation did not produce a value (error, undefined, timeout)."""


class EmbeddedRegoEngine(PolicyEngine):
    """regorus in-process: the default, ~tens of µs per decision, no network in the way."""

    name = "embedded"

    def __init__(
        self,
        rules_dir: str | Any | None = None,
        data_dir: str | Any | None = None,
        timeout_ms: float = 500,
        *,
        self_check: bool = True,
    ) -> None:
        self._sources: PolicySources = load_sources(rules_dir, data_dir)
        self.timeout_ms = float(timeout_ms)
        self._local = threading.local()
        self._engine()  # parse now: a syntax error is a PolicyLoadError at construction
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
        for name, text in self._sources.rules:
            try:
                engine.add_policy(name, text)
            except Exception as exc:  # regorus raises RuntimeError with the parser's message
                raise PolicyLoadError(name, clean_error(exc)) from exc
        try:
            engine.add_data_json(self._sources.data_json())
        except Exception as exc:
            raise PolicyLoadError("data", clean_error(exc)) from exc
        return engine

    def _engine(self) -> regorus.Engine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._build()
            self._local.engine = engine
        return engine

    def _self_check(self) -> None:
        """Evaluate a few normal proposals: an undefined function or a rule that errors on a
        well-formed input surfaces now, as a load error, instead of denying every proposal."""
        from policies import samples

        for name, doc in samples.self_check_inputs():
            try:
                parse_decision(self.evaluate(DECISION_RULE, orjson.dumps(doc).decode()))
            except (_EvalFailure, MalformedDecision) as exc:
                raise PolicyLoadError("self-check", f"{name}: {exc}") from exc

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, rule: str, input_json: str | None) -> Any:
        """Evaluate one rule path (``data.a.b``) for a JSON input; raise ``_EvalFailure`` when
        it errors or is undefined. Used by ``decide`` and by the OPA-API server."""
        engine = self._engine()
        try:
            if input_json is not None:
                engine.set_input_json(input_json)
            else:
                engine.set_input_json("null")
            raw = engine.eval_rule_as_json(rule)
        except Exception as exc:
            raise _EvalFailure(f"policy error: {clean_error(exc)}") from exc
        if raw == _UNDEFINED:
            raise _EvalFailure(f"policy undefined: {rule} has no value")
        return orjson.loads(raw)

    def query(self, query: str, input_json: str | None) -> list[Any]:
        """Evaluate a query and return its values (empty list = undefined). For the OPA-API
        server, which must answer undefined paths with ``{}`` rather than an error."""
        engine = self._engine()
        engine.set_input_json(input_json if input_json is not None else "null")
        out = orjson.loads(engine.eval_query_as_json(query))
        values: list[Any] = []
        for row in out.get("result", []):
            for expr in row.get("expressions", []):
                values.append(expr.get("value"))
        return values

    def decide_detailed(self, input_doc: dict[str, Any] | PolicyInput) -> DetailedDecision:
        """The decision and the ``would_deny`` list of dryrun rule sets. Never raises."""
        start = time.perf_counter()
        doc, failed = _checked(input_doc)
        if failed is not None:
            return failed
        try:
            payload = orjson.dumps(doc).decode()
        except (TypeError, orjson.JSONEncodeError) as exc:
            return _fail(f"policy input is not JSON-serialisable: {exc}")
        try:
            result = self.evaluate(DECISION_RULE, payload)
        except PolicyLoadError as exc:  # a thread's first build failed (cannot happen after init)
            return _fail(f"policy unavailable: {exc}")
        except _EvalFailure as exc:
            return _fail(str(exc))
        except Exception as exc:  # the contract: decide never raises
            return _fail(f"policy error: {clean_error(exc)}")
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > self.timeout_ms:
            return _fail(
                f"policy timeout: evaluation took {elapsed_ms:.1f} ms (limit {self.timeout_ms:g} ms)"
            )
        try:
            return parse_decision(result)
        except MalformedDecision as exc:
            return _fail(f"policy returned a malformed decision: {exc}")

    def decide(self, input_doc: dict[str, Any]) -> Decision:
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
    ) -> None:
        from opa_client.opa import OpaClient

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA URL {url!r} must look like http://host:8181")
        if parts.path not in ("", "/"):
            raise ValueError(f"OPA URL {url!r} must not have a path; the client adds /v1/data/...")
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

    @property
    def revision(self) -> str:
        return self._sources.revision

    @property
    def policy_data(self) -> dict[str, Any]:
        return self._sources.data

    def decide_detailed(self, input_doc: dict[str, Any] | PolicyInput) -> DetailedDecision:
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
            return _fail(f"policy input is not JSON-serialisable: {exc}")
        try:
            body = self._client.query_rule(input_data=doc, package_path="gateward", rule_name="decision")
        except requests.exceptions.Timeout:
            return _fail(
                f"policy unavailable: OPA at {self.url} did not answer within {self.timeout_ms:g} ms"
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
                f"policy unavailable: OPA at {self.url} answered HTTP {status}: {detail}".rstrip(": ")
            )
        except requests.exceptions.RequestException as exc:
            return _fail(f"policy unavailable: cannot reach OPA at {self.url}: {type(exc).__name__}")
        except ValueError:
            return _fail(f"policy unavailable: OPA at {self.url} answered with malformed JSON")
        except Exception as exc:  # the contract: decide never raises
            return _fail(f"policy unavailable: {type(exc).__name__}: {exc}")
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > self.timeout_ms:
            return _fail(f"policy timeout: OPA took {elapsed_ms:.1f} ms (limit {self.timeout_ms:g} ms)")
        if not isinstance(body, dict) or "result" not in body:
            return _fail(
                "policy undefined: data.gateward.decision has no value on the OPA server "
                "(is the gateward bundle loaded?)"
            )
        try:
            return parse_decision(body["result"])
        except MalformedDecision as exc:
            return _fail(f"policy returned a malformed decision: {exc}")

    def decide(self, input_doc: dict[str, Any]) -> Decision:
        return self.decide_detailed(input_doc).decision

    def healthy(self) -> bool:
        return bool(self._client.check_health())

    def close(self) -> None:
        self._client.close_connection()


def load_engine(settings: Any | None = None) -> PolicyEngine:
    """The engine the settings ask for: OPA when ``opa_url`` is set, embedded otherwise.

    Raises :class:`PolicyLoadError` when the pack cannot load: the caller refuses to start.
    """
    if settings is None:
        from core.config import get_settings

        settings = get_settings()
    timeout_ms = getattr(settings, "policy_timeout_ms", 500)
    opa_url = getattr(settings, "opa_url", None)
    if opa_url:
        return OpaServerEngine(str(opa_url), timeout_ms)
    return EmbeddedRegoEngine(timeout_ms=timeout_ms)
