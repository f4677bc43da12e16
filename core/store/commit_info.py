"""Keys in ``Session.info`` by which a write transaction's commit settings ride on its last statement.

Why: on PostgreSQL an asynchronous commit (``Store.write(durable=False)``) was a
statement of its own at the start of the transaction, a round trip each. The setting is only read
when the transaction commits, so a transaction whose commit hook already sends a statement — the
audit append, which every audited transaction runs last — can carry it there. ``Store.write`` looks
for queued audit events under :data:`AUDIT_QUEUE` and, when there are some, leaves
:data:`RELAXED_COMMIT` for the append to honour; otherwise it sends the setting itself.
"""

from __future__ import annotations

AUDIT_QUEUE = "gateward_audit_queue"  # events appended in the open transaction (core.audit)
RELAXED_COMMIT = "gateward_relaxed_commit"  # the append sets ``synchronous_commit = off`` for this transaction
