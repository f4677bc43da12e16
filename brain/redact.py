"""The chat redactor, for the planner: it lives in :mod:`core.redact` (stdlib only, so migration
0007 can scrub stored rows with the one definition of a chat secret without importing the planner)."""

from core.redact import MASK, PLACEHOLDER_RE, find_secrets, redact, scrub_data, scrub_text, settle

__all__ = ["MASK", "PLACEHOLDER_RE", "find_secrets", "redact", "scrub_data", "scrub_text", "settle"]
