"""Short, sortable-enough, collision-resistant ids with a type prefix (``p-3f9a...``).

Proposal ids double as the CWMP ``ParameterKey`` (≤ 32 characters), so they stay short.
"""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"
