"""Issue 54: the chat's masking masks only secrets. Measured on names from a simulated fleet (0 may
be masked) and on two splits of secret phrasings in four languages (every one must be masked): the
tuning split (``secret_corpus.SECRETS``) and the held-out split (``secret_corpus_heldout``), which
the masking was never tuned on. The figures are printed (``-s``) and recorded as junit properties.

First seen, before the fix (``core.redact.scrub_text`` as it was): tuning 14/28 masked, held-out
14/26, and 636 of 764 fleet names masked in ordinary sentences. After it: tuning 28/28, held-out
24/26. The two held-out misses (a value that begins with an article after "is"; a post-nominal "new"
before the colon) were then fixed as classes, from six new tuning phrasings (34/34), and a second
held-out split was written before that fix (``secret_corpus_heldout2``): first seen 20/26, 24/26
after it — its misses are a phrase whose second word reads as a description ("die alte Mühle …")
and a phrase with "et" (and) inside it. The first split, no longer unseen after its misses were
studied, is now at 26/26.

A third held-out split (``secret_corpus_heldout3``) was written on 2026-11-28 before the second
split's misses were studied: first seen 21/27 — a phrase joined by "and" (2), a change said after
the keyword ("soll … werden", "doit devenir", "tiene que ser": 3) and a "wanted" participle before the
colon (1). Those classes, and the second split's, were then fixed from twelve new tuning phrasings
(46/46); after it the second split is 26/26 and the third 27/27, neither unseen any more.
"""

from __future__ import annotations

import re
from typing import Any

from brain.secret_guard import mask_turn
from tests.brain.secret_corpus import NAME_TEMPLATES, SECRETS, Phrasing, fleet_names
from tests.brain.secret_corpus_heldout import HELDOUT
from tests.brain.secret_corpus_heldout2 import HELDOUT2
from tests.brain.secret_corpus_heldout3 import HELDOUT3


def _leaks(masked: str, message: str, secret: str) -> bool:
    """Any part of ``secret`` (a word of three characters or more) still readable, that the message
    does not also hold outside the secret."""
    masked = re.sub(r"\[secret(?::\d+)?\]", " ", masked)
    rest = message.replace(secret, " ")
    return secret in masked or any(w in masked and w not in rest for w in re.findall(r"[\w#!]{3,}", secret))


def _missed(corpus: list[Phrasing]) -> list[tuple[str, str]]:
    out = []
    for _lang, context, message, secret in corpus:
        masked = mask_turn(message, context=bool(context)).text
        if _leaks(masked, message, secret):
            out.append((message, masked))
    return out


def test_the_corpora_are_the_size_the_issue_asks() -> None:
    assert len(SECRETS) + len(HELDOUT) >= 50 and min(len(SECRETS), len(HELDOUT)) >= 25
    assert len(HELDOUT2) >= 25 and len(HELDOUT3) >= 25
    for split in (SECRETS, HELDOUT, HELDOUT2, HELDOUT3):
        assert {lang for lang, *_ in split} == {"en", "de", "fr", "es"}
        assert sum(1 for _, context, *_ in split if context) >= 4  # corrections in a later turn
        assert sum(1 for *_, secret in split if " " in secret) >= 4  # unquoted values of several words
    assert len(fleet_names()) >= 200


def test_every_secret_of_the_tuning_split_is_masked(record_property: Any) -> None:
    missed = _missed(SECRETS)
    record_property("secrets_tuning_masked", len(SECRETS) - len(missed))
    print(f"\ntuning split: {len(SECRETS) - len(missed)}/{len(SECRETS)} masked")
    assert missed == []


def test_the_first_held_out_split_no_longer_unseen(record_property: Any) -> None:
    missed = _missed(HELDOUT)
    record_property("secrets_heldout_masked", len(HELDOUT) - len(missed))
    print(f"\nfirst held-out split (studied, no longer unseen): {len(HELDOUT) - len(missed)}/{len(HELDOUT)} masked")
    # Its two misses were studied and fixed as classes (the module's docstring): it may not fall below
    # what it is now, 26/26.
    assert missed == []


def test_the_second_held_out_split(record_property: Any) -> None:
    missed = _missed(HELDOUT2)
    record_property("secrets_heldout2_masked", len(HELDOUT2) - len(missed))
    print(f"\nsecond held-out split: {len(HELDOUT2) - len(missed)}/{len(HELDOUT2)} masked")
    # First seen 20/26, 24/26 after the first split's classes were fixed; its two misses were then
    # studied and fixed as classes (the module's docstring): it may not fall below what it is now, 26/26.
    assert missed == []


def test_the_third_held_out_split(record_property: Any) -> None:
    missed = _missed(HELDOUT3)
    record_property("secrets_heldout3_masked", len(HELDOUT3) - len(missed))
    print(f"\nthird held-out split: {len(HELDOUT3) - len(missed)}/{len(HELDOUT3)} masked")
    # First seen 21/27; 27/27 after the classes of its misses were fixed from new tuning phrasings.
    assert missed == []


def test_no_fleet_name_is_masked(record_property: Any) -> None:
    names = fleet_names()
    masked = {name for name in names for _, t in NAME_TEMPLATES
              if name not in mask_turn(t.format(name=name)).text}
    record_property("fleet_names_masked", len(masked))
    print(f"\nfleet names: {len(names)} names in {len(NAME_TEMPLATES)} sentences each, {len(masked)} masked")
    assert sorted(masked) == []
