"""A campaign's states, by name, apart from the state machine that moves between them.

Why a module of its own: the read side (``campaigns.reads``: the CLI's ``campaign status``, the
console's pages) needs the names but none of the orchestrator's imports (the audit chain, the
lifecycle's types), which cost a read command most of its start-up.
"""

from __future__ import annotations

CREATED, RUNNING, PAUSED, ABORTING = "created", "running", "paused", "aborting"
ABORTED, COMPLETED, FAILED = "aborted", "completed", "failed"
# A campaign whose proposal policy denied, or an approver rejected, never starts: it is closed, not
# "created" for ever (it counted as active and offered a Start nobody could press).
DENIED, REJECTED = "denied", "rejected"
TERMINAL = frozenset({ABORTED, COMPLETED, FAILED, DENIED, REJECTED})
