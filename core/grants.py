"""Write grants: the token an executor's write methods demand.

Only ``core.lifecycle.device_io`` imports this module (a test enforces it; ``tests/`` may too, to
exercise adapters). Each lifecycle owns one :class:`GrantAuthority` (nothing here is
process-wide); the composition root binds the adapters of that lifecycle's router to its
:meth:`GrantAuthority.verify` (``ExecutorRouter.bind_grant_verifier``). A grant is valid when it
was issued by that authority (HMAC over its fields with a key that never leaves the authority), has
not been revoked, and covers the device, paths and command being written. The lifecycle checks its
store (state, hash, lock) before issuing, so two runtimes in one process — two stores — never
accept each other's grants.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from core.kernel.ports.executor import GrantPurpose, WriteGrant, WriteRefused


class GrantAuthority:
    """Issues, revokes and verifies write grants, with a key of its own."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def _mac(self, g: WriteGrant) -> str:
        msg = "\x1f".join(
            [g.proposal_id, g.proposal_hash, g.device_id, g.purpose, g.nonce,
             ",".join(sorted(g.paths)), ",".join(sorted(g.commands))]
        ).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, *, proposal_id: str, proposal_hash: str, device_id: str, purpose: GrantPurpose,
              paths: Iterable[str] = (), commands: Iterable[str] = ()) -> WriteGrant:
        unsigned = WriteGrant(proposal_id=proposal_id, proposal_hash=proposal_hash, device_id=device_id,
                              purpose=purpose, paths=frozenset(paths), commands=frozenset(commands),
                              nonce=secrets.token_hex(8))
        grant = WriteGrant(**{**unsigned.__dict__, "mac": self._mac(unsigned)})
        with self._lock:
            self._active.add(grant.nonce)
        return grant

    def revoke(self, grant: WriteGrant) -> None:
        with self._lock:
            self._active.discard(grant.nonce)

    @contextmanager
    def scoped(self, **kwargs: object) -> Iterator[WriteGrant]:
        """Issue a grant for the duration of a ``with`` block, then revoke it."""
        grant = self.issue(**kwargs)  # type: ignore[arg-type]
        try:
            yield grant
        finally:
            self.revoke(grant)

    def verify(self, grant: WriteGrant) -> None:
        if not hmac.compare_digest(grant.mac, self._mac(grant)):
            raise WriteRefused(f"{grant.device_id}: write refused: grant signature invalid (forged or altered)")
        with self._lock:
            if grant.nonce not in self._active:
                raise WriteRefused(f"{grant.device_id}: write refused: grant expired or revoked")
