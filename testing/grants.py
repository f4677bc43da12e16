"""Write grants for tests that drive an adapter directly, without a lifecycle.

Nothing is process-wide (issue 35): an executor accepts the grants of the one verifier bound to it.
:func:`grant` binds a test authority of its own to the executor the first time it is asked (one per
executor) and issues a live grant from it, revoked when the block ends — what
``core.lifecycle.device_io`` does for a proposal, minus the store checks before issuing.

An executor a runtime's router has bound to its lifecycle's verifier cannot take a test authority
(binding is one-shot): write through the lifecycle, or through a clone (``with_timeout``), which
starts unbound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from core.grants import GrantAuthority
from core.kernel.models import Device
from core.kernel.ports.executor import Executor, GrantPurpose, WriteGrant

_authorities: WeakKeyDictionary[Executor, GrantAuthority] = WeakKeyDictionary()
_lock = threading.Lock()


def authority_for(executor: Executor) -> GrantAuthority:
    """The test authority bound to ``executor`` (bound now if it has none). Raises
    ``WriteRefused`` when a runtime already bound the executor to its lifecycle's verifier."""
    with _lock:
        authority = _authorities.get(executor)
        if authority is None:
            authority = GrantAuthority()
            executor.bind_grant_verifier(authority.verify)
            _authorities[executor] = authority
        return authority


@contextmanager
def grant(executor: Executor, device: Device, *, paths: Iterable[str] = (), commands: Iterable[str] = (),
          purpose: GrantPurpose | None = None, proposal_id: str = "p-test",
          proposal_hash: str = "0" * 64) -> Iterator[WriteGrant]:
    """A grant ``executor`` accepts for ``device`` and these paths or commands, for the block.
    ``purpose`` defaults to ``operate`` when commands are given, else ``apply``."""
    commands = list(commands)
    authority = authority_for(executor)
    issued = authority.issue(proposal_id=proposal_id, proposal_hash=proposal_hash, device_id=device.id,
                             purpose=purpose or ("operate" if commands else "apply"), paths=paths,
                             commands=commands)
    try:
        yield issued
    finally:
        authority.revoke(issued)
