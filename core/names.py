"""People's names: the form in which two names are the same name, and what a name may hold.

Why: the audit trail, the approvals and the console show people by name, and separation of duties
is decided by name. ``DAVE`` beside ``dave``, or ``dave`` typed with a fullwidth ``ｄ`` or a combining
accent, looks like one person and is two. So a name is compared in its *key* — Unicode NFKC, case
folded, NFKC again (the "NFKC_Casefold" of Unicode §3.13) — and no two people may share a key. A name
may not hold what no reader can see either: whitespace, control and format characters (a zero-width
space makes ``dave\u200b`` look like ``dave`` under any normalisation).
"""

from __future__ import annotations

import unicodedata

MAX_LEN = 64


def name_key(name: str) -> str:
    """The form two names are compared in: equal keys, the same name to a reader."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a person's name, or ``None`` when it can."""
    if not 1 <= len(name) <= MAX_LEN:
        return f"a name is 1..{MAX_LEN} characters"
    hidden = [ch for ch in name if ch.isspace() or not ch.isprintable()]
    if hidden:
        return (f"a name may not hold spaces or invisible characters (found U+{ord(hidden[0]):04X} "
                f"{unicodedata.name(hidden[0], 'unnamed')})")
    return None
