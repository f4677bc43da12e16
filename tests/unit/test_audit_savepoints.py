"""A savepoint that rolls back takes its own audit events and no others (``core.audit``): events the
transaction appended before it, or in a savepoint released before it, are written at the
transaction's commit, in the order they were appended. Writing the queue at each savepoint made a
savepoint's rollback take the transaction's earlier events with it — a change committed without
its record (found writing the chaining after commit, issue 60)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from core import audit


def _actions(store: Any) -> list[str]:
    with store.read() as s:
        return list(s.execute(text("SELECT action FROM audit_events ORDER BY seq")).scalars())


def _undone(s: Any, action: str | None) -> None:
    """A savepoint that appends ``action`` (or nothing) and rolls back."""
    try:
        with s.begin_nested():
            if action is not None:
                audit.append(s, actor="a", action=action)
            raise ValueError("undo the savepoint")
    except ValueError:
        pass


@pytest.mark.parametrize("inside", [None, "t.in-savepoint"])
def test_a_savepoint_rolled_back_keeps_what_came_before_it(store: Any, inside: str | None) -> None:
    with store.write() as s:
        audit.append(s, actor="a", action="t.before")
        _undone(s, inside)
        audit.append(s, actor="a", action="t.after")
    assert _actions(store) == ["t.before", "t.after"]
    with store.read() as s:
        assert audit.verify_chain(s).ok


def test_savepoints_within_savepoints_keep_their_order(store: Any) -> None:
    with store.write() as s:
        audit.append(s, actor="a", action="t.1")
        with s.begin_nested():
            audit.append(s, actor="a", action="t.2")  # released: kept
            _undone(s, "t.gone.inner")
            audit.append(s, actor="a", action="t.3")
        try:
            with s.begin_nested():
                audit.append(s, actor="a", action="t.gone.outer")
                with s.begin_nested():
                    audit.append(s, actor="a", action="t.gone.released-inside")
                raise ValueError("the outer savepoint rolls back, the one released inside it with it")
        except ValueError:
            pass
        audit.append(s, actor="a", action="t.4")
    assert _actions(store) == ["t.1", "t.2", "t.3", "t.4"]


def test_a_transaction_rolled_back_after_a_savepoint_leaves_nothing(store: Any) -> None:
    with pytest.raises(RuntimeError), store.write() as s:
        audit.append(s, actor="a", action="t.x")
        with s.begin_nested():
            audit.append(s, actor="a", action="t.y")
        raise RuntimeError("the change failed")
    with store.write() as s:
        audit.append(s, actor="a", action="t.next")
    assert _actions(store) == ["t.next"]
