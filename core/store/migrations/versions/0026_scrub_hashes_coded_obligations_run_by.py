"""issue 34: scrub stored passphrase hashes, code old campaign obligations, record who a campaign runs for

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-26

Three changes to stored rows, each the data half of a code change of issue 34:

* **Passphrase hashes** (item 12). The policy input stored with each decision
  (``policy_decisions.input``) kept ``secret_facts.sha256_lower`` of every new passphrase: an
  unsalted sha256 of its lowercase form, one dictionary lookup from a weak passphrase for anyone
  who can read the table or a backup. The lifecycle now stores the input with that hash masked
  (``core.policy_input.stored``); this migration masks it in the rows already stored, in
  ``proposal.changes[*]`` and in a per-target proposal's ``device_changes[*][*]``. Policy still
  gets the hash in memory (the common-passphrase rule); nothing reads it back from the table.
* **Old-style obligations** (item 16). Campaigns created before obligations had codes stored only
  the messages (``plan["policy"]``: ``"stage: canary 5%"``, ``"window: DE 1-5 local, UTC offset 1
  h"``, ``"halt: failure rate above 2%"``), and ``campaigns/obligations.py`` parsed them with
  regular expressions on every read. Each such plan gets ``plan["policy_items"]``, the coded items
  the pack states today (``obligation.stage`` / ``.window`` / ``.halt`` with their params); the
  messages stay for display. The parser now lives only here, frozen as it was; the campaign code
  reads codes alone. A message that is none of the three was skipped by the old reader and is
  skipped here too.
* **Who a campaign runs for** (item 13). ``campaigns.run_by``: the person whose start, resume or
  promotion the campaign's device writes are made for (they were audited as the automation user
  ``remediator``). Existing campaigns get the last person the audit trail shows starting,
  resuming or promoting them, else their author.

Downgrade drops the column; the scrubbed hashes cannot be restored, by design, and the coded
items are left in place (older code reads them too).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MASK = "********"
_HASH_KEYS = ("sha256_lower",)
BATCH = 500

decisions_t = sa.table("policy_decisions", sa.column("id", sa.String), sa.column("input", sa.JSON))
campaigns_t = sa.table("campaigns", sa.column("id", sa.String), sa.column("proposal_id", sa.String),
                       sa.column("author", sa.String), sa.column("plan", sa.JSON), sa.column("run_by", sa.String))
audit_t = sa.table("audit_events", sa.column("seq", sa.BigInteger), sa.column("actor", sa.String),
                   sa.column("action", sa.String), sa.column("proposal_id", sa.String), sa.column("data", sa.JSON))

# The obligation messages the pack wrote before codes existed, exactly as campaigns/obligations.py
# read them until issue 34 (frozen here: this is the only place they are still parsed).
_STAGE = re.compile(r"^stage:\s*(canary|ring)\s+([0-9.]+)\s*%", re.I)
_HALT = re.compile(r"^halt:\s*failure rate above\s+([0-9.]+)\s*%", re.I)
_WINDOW = re.compile(r"^window:\s*(\S+)\s+(\d+)-(\d+) local, UTC offset (-?[0-9.]+) h$", re.I)


def upgrade() -> None:
    bind = op.get_bind()
    _scrub_decision_hashes(bind)
    _code_old_obligations(bind)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_by", sa.String(length=64), nullable=True))
    _backfill_run_by(bind)


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("run_by")


# ---------------------------------------------------------------------------- item 12
def masked_facts(doc: Any) -> tuple[Any, bool]:
    """``doc`` with every ``secret_facts`` hash masked, and whether anything changed."""
    changed = False

    def walk(obj: Any, key: str = "") -> Any:
        nonlocal changed
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if key == "secret_facts" and k in _HASH_KEYS and v != MASK:
                    out[k] = MASK
                    changed = True
                else:
                    out[k] = walk(v, k)
            return out
        if isinstance(obj, list):
            return [walk(v, key) for v in obj]
        return obj

    return walk(doc), changed


def _scrub_decision_hashes(bind: sa.Connection) -> None:
    """Rows whose input text names a hash key (a cheap filter on either dialect), rewritten in
    batches of ids so a large table is never held in memory at once."""
    holds_hash = sa.cast(decisions_t.c.input, sa.Text).like("%sha256_lower%")
    ids = list(bind.execute(sa.select(decisions_t.c.id).where(holds_hash)).scalars())
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        rows = bind.execute(sa.select(decisions_t.c.id, decisions_t.c.input).where(decisions_t.c.id.in_(chunk)))
        for did, doc in rows.all():
            scrubbed, changed = masked_facts(doc)
            if changed:
                bind.execute(sa.update(decisions_t).where(decisions_t.c.id == did).values(input=scrubbed))


# ---------------------------------------------------------------------------- item 16
def coded_obligation(text: str) -> dict[str, Any] | None:
    """An old obligation message as the coded item the pack states today, or None."""
    text = text.strip()
    if w := _WINDOW.match(text):
        return {"code": "obligation.window", "message": text,
                "params": {"region": w.group(1), "start_hour": int(w.group(2)), "end_hour": int(w.group(3)),
                           "utc_offset_hours": float(w.group(4))}}
    if m := _STAGE.match(text):
        return {"code": "obligation.stage", "message": text,
                "params": {"kind": m.group(1).lower(), "percent": float(m.group(2))}}
    if h := _HALT.match(text):
        return {"code": "obligation.halt", "message": text, "params": {"failure_rate_pct": float(h.group(1))}}
    return None


def coded_plan(plan: dict[str, Any]) -> dict[str, Any] | None:
    """``plan`` with ``policy_items`` derived from its messages, or None if it has items already."""
    if plan.get("policy_items") is not None:
        return None
    items = [item for text in plan.get("policy") or [] if isinstance(text, str)
             if (item := coded_obligation(text)) is not None]
    return {**plan, "policy_items": items}


def _code_old_obligations(bind: sa.Connection) -> None:
    for cid, plan in bind.execute(sa.select(campaigns_t.c.id, campaigns_t.c.plan)).all():
        new = coded_plan(dict(plan or {}))
        if new is not None:
            bind.execute(sa.update(campaigns_t).where(campaigns_t.c.id == cid).values(plan=new))


# ---------------------------------------------------------------------------- item 13
def _backfill_run_by(bind: sa.Connection) -> None:
    campaigns = {pid: (cid, author) for cid, pid, author in bind.execute(
        sa.select(campaigns_t.c.id, campaigns_t.c.proposal_id, campaigns_t.c.author)).all()}
    if not campaigns:
        return
    last: dict[str, str] = {}
    pids = list(campaigns)
    for i in range(0, len(pids), BATCH):
        rows = bind.execute(sa.select(audit_t.c.actor, audit_t.c.proposal_id, audit_t.c.data).where(
            audit_t.c.proposal_id.in_(pids[i:i + BATCH]),
            audit_t.c.action.in_(("campaign.started", "campaign.resumed", "campaign.promoted")))
            .order_by(audit_t.c.seq))
        for actor, pid, data in rows.all():
            cid = campaigns[pid][0]
            if isinstance(data, dict) and data.get("campaign") == cid and not str(actor).startswith(("system:", "gate")):
                last[cid] = actor
    for cid, author in campaigns.values():
        bind.execute(sa.update(campaigns_t).where(campaigns_t.c.id == cid).values(run_by=last.get(cid, author)))
