"""API fuzzing with schemathesis against the app's own OpenAPI schema, with **every** check
schemathesis has (not only "no 500"): no server error, every status documented, every body and
header as documented, schema-valid requests accepted, schema-violating ones refused, the Allow
header on 405, no answer without authentication, ...

Every operation is fuzzed with schema-valid (positive) and schema-violating (negative) input,
rotating an approver's token, a support agent's and no token at all. Each (operation, mode) is its
own Hypothesis run with a bounded example count, no deadline and ``derandomize`` (reproducible
CI runs), so the suite stays around a minute. Driven in-process over ASGI against the real app,
store and policy engine.

One deliberate reading of ``positive_data_acceptance``: a 422 whose ``error`` is ``invalid`` is the
*domain* refusing a proposal the schema cannot judge (a path the device's data model lacks, a
selector that matches nothing, a campaign without anything to roll out) — documented, and not
drift. A 422 ``invalid_request`` (the server's own schema refusing a schema-valid request) is
drift and fails the test. So is a 422 ``idempotency_key_reused``: the fuzzer sends the same few
``Idempotency-Key`` values with other bodies and to the other create, and the IETF draft's answer to
a key reused with another request is 422 — state from an earlier case, not the schema.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import CHECKS, load_all_checks, positive_data_acceptance  # noqa: E402
from schemathesis.core.parameters import ParameterLocation  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from tests.api.conftest import make_api  # noqa: E402
from tests.conftest import build_test_runtime  # noqa: E402

pytestmark = pytest.mark.slow
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}


def _checks() -> list[Any]:
    load_all_checks()
    return list(CHECKS.get_all())


def _is_domain_refusal(response: Any) -> bool:
    if response.status_code != 422:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") in ("invalid", "idempotency_key_reused")


def _headers_for(case: Any, n: int, headers: list[dict[str, str]]) -> dict[str, str]:
    """Rotate the identities; a case whose headers are the schema violation is sent as generated
    (adding our token would repair it)."""
    meta = getattr(case, "meta", None)
    if meta is not None and meta.is_negative_at(ParameterLocation.HEADER):
        return {}
    return headers[n % len(headers)]


def _fuzz(op: Any, mode: GenerationMode, headers: list[dict[str, str]], failures: list[str],
          statuses: Counter[int]) -> int:
    """Run one operation's Hypothesis search in one generation mode; returns how many cases ran."""
    seen = [0]
    checks = _checks()

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        seen[0] += 1
        sent = _headers_for(case, seen[0], headers)
        response = case.call(headers=sent)
        statuses[response.status_code] += 1
        excluded = [positive_data_acceptance] if _is_domain_refusal(response) else []
        try:
            case.validate_response(response, checks=checks, excluded_checks=excluded, headers=sent)
        except BaseException as exc:  # a FailureGroup: collect it and keep fuzzing
            where = f"{mode.value} {case.method} {case.formatted_path} {case.query or ''}"
            failures.append(f"{where} -> {response.status_code}: {str(exc)[:600]}")

    run()
    return seen[0]


def _has_input(op: Any) -> bool:
    definition = op.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def test_every_check_passes_on_every_operation(tmp_path: Any) -> None:
    rt = build_test_runtime(f"sqlite:///{tmp_path / 'g.db'}", homes=12)
    api = make_api(rt, "sqlite")
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
        # An approver's token reaches the deepest paths (create, approve, reject, apply, rollback);
        # a support agent's and no token at all cover the refusals.
        headers = [{"Authorization": f"Bearer {api.tokens[u]}"} for u in ("carol", "alice")] + [{}]
        failures: list[str] = []
        operations = [r.ok() for r in schema.get_all_operations()]
        statuses: Counter[int] = Counter()
        assert len(operations) >= 20, [op.label for op in operations]
        for op in operations:
            assert _fuzz(op, GenerationMode.POSITIVE, headers, failures, statuses) > 0, f"{op.label}: no case"
            if _has_input(op):  # nothing to violate on an operation without input
                assert _fuzz(op, GenerationMode.NEGATIVE, headers, failures, statuses) > 0, op.label
        assert failures == [], f"{len(failures)} failures:\n" + "\n".join(failures[:15])
        # the search reached past the front door: successes and every kind of refusal
        assert {200, 201, 401, 404, 422} <= set(statuses), statuses
        print(f"fuzzed {len(operations)} operations, {sum(statuses.values())} requests: "
              f"{dict(sorted(statuses.items()))}")
    finally:
        api.client.close()
        rt.close()


def test_the_document_describes_the_real_error_body(sqlite_api: Any) -> None:
    """FastAPI's default 422 body is gone; every error answer refers to the one error shape, and the
    refusals that happen before a route runs are documented."""
    schema = sqlite_api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    ops = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    for path, method, op in ops:
        for code, resp in op["responses"].items():
            if code.startswith(("4", "5")):
                ref = resp["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in ("ErrorOut", "ValidationErrorOut"), (path, method, code)
        if op.get("security"):
            assert "401" in op["responses"], (path, method)
        if op.get("requestBody"):
            assert {"400", "413", "415", "422"} <= set(op["responses"]), (path, method)
