"""Read models: each aggregate's row shapes, derived from the schema ("one row, one definition").

``shapes.py`` states, per aggregate, how each shape differs from its table (what it leaves out and
why, narrower types, order); ``gen.py`` (``python -m core.readmodels.gen``) derives the field
lists from ``core.store.schema`` and writes one module per aggregate — ``proposal.py`` (proposals,
policy decisions, approvals, executions), ``device.py`` — checked in, so the hot read paths import
plain classes and tuples with no work at import time and no SQLAlchemy (the CLI's DB-API path
imports them). ``tests/unit/test_read_model_drift.py`` regenerates them and fails on any
difference, and holds the shapes that are not generated (the kernel's models, the API's schemas)
to the derived lists. Import nothing here: each module is imported on its own.
"""
