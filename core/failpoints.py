"""Failpoints: named places where a test can make the process die, deterministically.

``GATEWARD_FAILPOINTS=lifecycle.after_apply`` makes :func:`failpoint` call ``os._exit(99)``
there — no cleanup, no ``finally``, exactly like ``kill -9``. Crash-safety tests use this to stop
a real process between apply and verify and then check that a restart recovers. With the
variable unset (always, in production) a failpoint is one dict lookup.
"""

from __future__ import annotations

import os

_ARMED = frozenset(p.strip() for p in os.environ.get("GATEWARD_FAILPOINTS", "").split(",") if p.strip())


def failpoint(name: str) -> None:
    if name in _ARMED:
        os._exit(99)
