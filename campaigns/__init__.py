"""Campaigns: one approved staged proposal rolled out in rings by distributed workers.

A campaign is *one* proposal (one hash, one policy decision, one set of approvals) whose targets
are a fleet selection. This package plans the rings (a stratified canary, widening rings, a held-back
control cohort), runs them batch by batch on a durable job queue (procrastinate on PostgreSQL),
watches each ring through an analysis gate, and halts — pauses, or aborts and rolls back — the
moment the gate fails or a person says so. It never writes to a device itself: every write is
``Lifecycle.apply_batch`` / ``rollback_staged``, which re-check every gate per batch.
"""
