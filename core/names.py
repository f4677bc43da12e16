"""People's names: the form in which two names are the same name, and what a name may hold.

Why: the audit trail, the approvals and the console show people by name, and separation of duties
is decided by name. ``DAVE`` beside ``dave``, or ``dave`` typed with a fullwidth ``ｄ`` or a combining
accent, looks like one person and is two. So a name is compared in its *key* — Unicode NFKC, case
folded, NFKC again (the "NFKC_Casefold" of Unicode §3.13) — and no two people may share a key. A name
may not hold what no reader can see either: whitespace, control and format characters (a zero-width
space makes ``dave\u200b`` look like ``dave`` under any normalisation).

What cannot be seen is found by Unicode's own properties, not a list of characters: Default_Ignorable_
Code_Point (the Hangul fillers U+3164 and U+115F, U+034F COMBINING GRAPHEME JOINER, variation selectors,
tag characters), White_Space, and the control, format, private-use, unassigned and separator
categories — plus the few glyphs that draw nothing and carry no such property (U+2800 BRAILLE PATTERN
BLANK). A name may not begin with a combining mark nor pile more than :data:`MAX_MARKS` on one letter.

What looks like another name: a name mixing scripts with letters that look like another script's
(``dаve`` with a Cyrillic ``а``, ``pаypal``) is refused — the confusables of Unicode's UTS #39 data,
through ``confusable_homoglyphs`` (a maintained library; ``ASCII`` punctuation counts as no script). A
name wholly in one script (``Иван``, ``李雷``) is a name.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import regex
from confusable_homoglyphs import categories, confusables

MAX_LEN = 64
MAX_MARKS = 3  # combining marks on one letter (Vietnamese uses two; more is a pile, drawn over its neighbours)
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{White_Space}\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}"
                           r"\p{Zs}\p{Zl}\p{Zp}]")
# Glyphs that draw nothing and carry none of those properties (their fonts draw an empty cell).
_BLANK_GLYPHS = frozenset("\u2800")
_NO_SCRIPT = frozenset({"COMMON", "INHERITED"})


def name_key(name: str) -> str:
    """The form two names are compared in: equal keys, the same name to a reader."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a person's name, or ``None`` when it can."""
    if not 1 <= len(name) <= MAX_LEN:
        return f"a name is 1..{MAX_LEN} characters"
    hidden = [ch for ch in name if _INVISIBLE.match(ch) or ch in _BLANK_GLYPHS or not ch.isprintable()]
    if hidden:
        return (f"a name may not hold spaces or invisible characters (found U+{ord(hidden[0]):04X} "
                f"{unicodedata.name(hidden[0], 'unnamed')})")
    return _marks_problem(name) or _lookalike_problem(unicodedata.normalize("NFKC", name))


def _marks_problem(name: str) -> str | None:
    run = 0
    for i, ch in enumerate(unicodedata.normalize("NFD", name)):
        if unicodedata.category(ch).startswith("M"):
            run += 1
            if i == 0:
                return "a name may not begin with a combining mark"
            if run > MAX_MARKS:
                return f"a name may not pile more than {MAX_MARKS} combining marks on one letter"
        else:
            run = 0
    return None


def _lookalike_problem(name: str) -> str | None:
    """A name mixing scripts with a letter that looks like another script's: the letter named."""
    if not confusables.is_dangerous(name):
        return None
    scripts = [categories.alias(ch) for ch in name]
    counts = Counter(a for a in scripts if a not in _NO_SCRIPT)
    main = counts.most_common(1)[0][0] if counts else "LATIN"
    odd = next((ch for ch, a in zip(name, scripts, strict=True) if a not in _NO_SCRIPT and a != main), name[0])
    return (f"a name may not mix scripts with letters that look alike: U+{ord(odd):04X} "
            f"{unicodedata.name(odd, 'unnamed')} looks like a {main.title()} letter among {main.title()} ones")
