"""API fuzzing with schemathesis against the app's own OpenAPI schema: whatever a client sends
that the schema describes — valid, borderline or nonsense within the declared shapes — the
answer is never a server error, and every refusal is the JSON error shape.

Each operation gets its own Hypothesis run (``max_examples`` per operation, no deadline,
``derandomize`` for reproducible CI runs), so the whole suite stays well under two minutes on
the CI machine. Driven in-process over ASGI against the real app, store and policy engine.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.api.conftest import make_api  # noqa: E402
from tests.conftest import build_test_runtime  # noqa: E402

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 30


def _fuzz(op: Any, headers: list[dict[str, str]], failures: list[str], statuses: Counter[int]) -> int:
    """Run one operation's Hypothesis search; returns how many cases ran."""
    seen = [0]

    @given(case=op.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        seen[0] += 1
        response = case.call(headers=headers[seen[0] % len(headers)])
        statuses[response.status_code] += 1
        where = f"{case.method} {case.formatted_path} {case.query or ''}"
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400:
            body = response.json()
            if not (isinstance(body, dict) and {"error", "detail"} <= set(body)):
                failures.append(f"{where}: {response.status_code} without the error shape: {body}")

    run()
    return seen[0]


def test_no_server_errors_anywhere_in_the_schema(tmp_path: Any) -> None:
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
            n = _fuzz(op, headers, failures, statuses)
            assert n > 0, f"{op.label}: no case generated"
        assert failures == [], "\n".join(failures[:20])
        # the search reached past the front door: successes and every kind of refusal
        assert {200, 201, 401, 404, 422} <= set(statuses), statuses
        print(f"fuzzed {len(operations)} operations, {sum(statuses.values())} requests: "
              f"{dict(sorted(statuses.items()))}")
    finally:
        api.client.close()
        rt.close()
