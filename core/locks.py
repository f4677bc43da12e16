"""Device locks whose holder died: found, cleared and audited in one place.

Why one place: three paths clear a dead holder's locks — a staged batch delivered again after its
worker died (``core.staged``), cancelling or editing a proposal whose apply died before writing
(``DeviceLocks.refuse_if_executing`` in ``core.lifecycle.locking``), and crash recovery
(``core.lifecycle.recovery``). Each used to delete the locks it had read earlier, by proposal;
recovery read them in one transaction and deleted every lock of the proposal in another, after
rolling devices back — a lock a live process had taken on that proposal in between would have gone
with them. Here the locks are read and deleted in the caller's transaction, each holder's liveness
checked again right there, and only the dead ones go, with one ``lock.released`` event naming the
devices, the holders and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from core import audit
from core.execution import lock_in_use, lock_is_live
from core.store.schema import DeviceLockRow

LOCKS = cast(Table, DeviceLockRow.__table__)


def clear_dead_locks(s: Session, pid: str, device_ids: Sequence[str] | None, actor_id: str, why: str, *,
                     own_are_dead: bool = False) -> list[str]:
    """Delete ``pid``'s locks (on ``device_ids``, or all of them) whose holder is gone, with a
    ``lock.released`` event; a live holder's lock is left alone. Returns the devices released.

    Gone: another process on this host whose pid is dead, or another host's lock past its expiry.
    A lock naming this process counts as live — an apply of ours may be running — unless
    ``own_are_dead``: crash recovery runs before this process applies anything, so a lock naming
    it was left by an earlier process that had the same pid (a container restarted)."""
    q = select(LOCKS.c.device_id, LOCKS.c.owner, LOCKS.c.expires_at).where(LOCKS.c.proposal_id == pid)
    if device_ids is not None:
        q = q.where(LOCKS.c.device_id.in_(list(device_ids)))
    alive = lock_is_live if own_are_dead else lock_in_use
    dead = [r for r in s.execute(q) if not alive(r.owner, r.expires_at)]
    if not dead:
        return []
    ids = [r.device_id for r in dead]
    s.execute(delete(LOCKS).where(LOCKS.c.proposal_id == pid, LOCKS.c.device_id.in_(ids)))
    audit.append(s, actor=actor_id, action="lock.released", proposal_id=pid,
                 data={"devices": ids, "owners": sorted({r.owner for r in dead}), "reason": f"holder died; {why}"})
    return ids
