"""The boundaries of the redactor's newer rules, pinned one by one (core/redact.py).

Why: the rules for a value joined by "and" (``_join_to_end``, ``_joined``, ``_plain_tail``), a phrase that
begins with an article (``_article_phrase``, ``_opens_phrase``), the connectors after a keyword
(``_skip_connectors``) and a value run to its clause's end in mask mode (``_rest``) were covered by tests
that show each rule working, but not where each one stops — a mutation run left a hundred changes to them
unnoticed (a comma no longer ending a joined tail, "'s" no longer a possessive, a clause end ignored). Each
test here states one such edge as behaviour: what :func:`core.redact.redact` takes as the value (its exact
extent matters, since the chat asks again for an unclear one) or what :func:`brain.secret_guard.mask_turn`
leaves readable. Where an edge cannot be reached through either (a contract of a helper that its callers
hide), the helper is called directly. Sentences written for these tests (none from a corpus split).
"""

from __future__ import annotations

import pytest

from brain.secret_guard import mask_turn
from core.redact import _Doc, _joined, _rest, redact


def _values(text: str) -> list[str]:
    return list(redact(text)[1].values())


# ---------------------------------------------------------------------------- "and" joining words to a value
JOINED = [
    # one plain word ending the text (no final punctuation: the text's end is the sentence's)
    ("new guest wifi password: stone walls and ivy", "stone walls and ivy"),
    # ... or ending with a full stop, more text after it
    ("new guest wifi password: stone walls and ivy. She will reboot later.", "stone walls and ivy"),
    # three plain words are the most a conjunction joins
    ("new wifi password: stone walls and green ivy leaves", "stone walls and green ivy leaves"),
    # two letters are a word ("Ei"); a value ending in a capital X is still no clause end
    ("das neue WLAN-Passwort ist Brot und Ei", "Brot und Ei"),
    ("change the wifi password to STYX and Lethe", "STYX and Lethe"),
    ("set the wifi password to sandbox and XBOX games", "sandbox and XBOX games"),
]

NOT_JOINED = [
    # four words after "and" are a new clause
    ("new wifi password: stone walls and green ivy leaves grow", "stone walls"),
    # a comma before "and" ends the value; a comma inside the tail makes it a new clause
    ("set the wifi password to sunflower, and Maria agrees.", "sunflower"),
    ("set the wifi password to lighthouse and yes, Maria.", "lighthouse"),
    # a keyword, a chat word or a handle after "and" is not the value's
    ("change the wifi password to lighthouse and admin password.", "lighthouse"),
    ("set the wifi password to lighthouse and lol", "lighthouse"),
    ("set the wifi password to lighthouse and @maria", "lighthouse"),
    # only a conjunction joins: another stop word ends the value even before a plain word at the end
    ("set the wifi password to sunflower since Monday.", "sunflower"),
    # a tail that is cut off by the token limit, not ended by the sentence, is not joined
    ("set the wifi password to purple yellow orange silver violet indigo and amber coral ivory white brown",
     "purple yellow orange silver violet indigo"),
]


@pytest.mark.parametrize(("text", "value"), JOINED)
def test_a_conjunction_joins_a_plain_tail_that_ends_the_sentence(text: str, value: str) -> None:
    assert _values(text) == [value]


@pytest.mark.parametrize(("text", "value"), NOT_JOINED)
def test_the_value_ends_before_a_conjunction_that_opens_a_new_clause(text: str, value: str) -> None:
    out, secrets = redact(text)
    assert list(secrets.values()) == [value]
    assert text.replace(value, "[secret:1]", 1) == out


def test_the_same_tail_is_joined_when_it_ends_the_sentence() -> None:
    # the pair of the token-limit case above: three words fewer, and the tail ends the text
    text = "set the wifi password to purple yellow orange silver violet indigo and amber coral ivory"
    assert _values(text) == ["purple yellow orange silver violet indigo and amber coral ivory"]


def test_a_tail_that_stops_short_of_the_sentence_end_is_not_joined() -> None:
    # the tokens a caller passes may stop before the text does (the token limit); the tail then ends the
    # sentence only when its last word carries the sentence's punctuation, whatever letter it ends with
    for text in ("stone walls and BOX kept going", "stone walls and box kept going"):
        toks = _Doc(text).after(0, 4)
        assert [t.group(0) for t in toks] == text.split()[:4]
        assert not _joined(text, toks, 2)
    text = "stone walls and box. kept going"
    assert _joined(text, _Doc(text).after(0, 4), 2)


# ---------------------------------------------------------------------------- connectors after the keyword
CONNECTED = [
    # "'s" is a copula: a plain word ending the clause after it is the value, also past a filler
    ("my wifi password's sunflower", "sunflower"),
    ("the wifi password's now sunflower", "sunflower"),
    # an arrow assigns: the plain words after it are the value, without a cue
    ("wifi password -> sunflower fields", "sunflower fields"),
    # a run of symbols is skipped whole
    ("new wifi password: → sunflower fields", "sunflower fields"),
    # "==" is a colon: the rest of the clause is the value, whatever its first word
    ("wifi password == my dog barks loud", "my dog barks loud"),
]


@pytest.mark.parametrize(("text", "value"), CONNECTED)
def test_connectors_tie_the_value_to_the_keyword(text: str, value: str) -> None:
    assert _values(text) == [value]


def test_a_filler_word_alone_is_no_copula() -> None:
    # "then" only fills: without a cue or a copula the next plain word is the agent's next step
    text = "check the router password then reboot"
    assert redact(text) == (text, {})


# ---------------------------------------------------------------------------- a phrase opened by an article
ARTICLE_PHRASES = [
    # "old" and then a noun, exactly three tokens (nothing after the noun)
    ("ihr neues WLAN-Passwort ist die alte Mühle", "die alte Mühle"),
    # a comma after the noun ends the phrase there, it does not make "old" a description
    ("her new wifi password is the old mill, I think", "the old mill"),
    # a one-letter article: after a colon "a" is not taken for a connector, the phrase begins with it
    ("new wifi password: a red kite flies", "a red kite flies"),
]

DESCRIPTIONS = [
    # a possessive says whose, not what (a straight apostrophe as the typographic one)
    "set the wifi password to the tenant's favourite song",
    # "old" and a word that is no plain word ("default") describe a password
    "the new wifi password should be the old default again",
    # "old" and "ones" point at passwords, whatever follows
    "set both wifi passwords to the old ones again",
]


@pytest.mark.parametrize(("text", "value"), ARTICLE_PHRASES)
def test_an_article_phrase_is_the_value(text: str, value: str) -> None:
    assert _values(text) == [value]


@pytest.mark.parametrize("text", DESCRIPTIONS)
def test_a_description_after_an_article_stays_readable(text: str) -> None:
    assert redact(text) == (text, {})


# ---------------------------------------------------------------------------- mask mode: the rest of the clause
def test_the_rest_stops_at_the_clause_end() -> None:
    out = mask_turn("the wifi password should be blue sky over the bay. The router is in the hall.").text
    assert out == "the wifi password should be [secret]. The router is in the hall."


def test_the_rest_is_found_after_an_earlier_sentence() -> None:
    # a clause end before the value's position is not the value's end
    assert mask_turn("Hi. The wifi password should be blue sky over the bay").text == \
        "Hi. The wifi password should be [secret]"


@pytest.mark.parametrize(("text", "masked"), [
    # a new clause after "and", "because": the value ends before it
    ("the wifi password should be blue sky over the bay and the router needs a reboot",
     "the wifi password should be [secret] and the router needs a reboot"),
    ("the wifi password should be blue sky because Maria asked",
     "the wifi password should be [secret] because Maria asked"),
    # ... but "y" joining a plain word at the clause end does not end it
    ("the wifi password should be sol de invierno y lluvia", "the wifi password should be [secret]"),
])
def test_the_rest_ends_before_a_new_clause(text: str, masked: str) -> None:
    assert mask_turn(text).text == masked


@pytest.mark.parametrize("text", [
    # a keyword, or a chat word, first is no value
    "can you change her wifi password? she wants password hints turned off",
    "her wifi password is lol no idea",
])
def test_the_rest_needs_a_value_as_its_first_word(text: str) -> None:
    assert mask_turn(text).text == text


def test_the_rest_is_none_when_nothing_is_left_of_it() -> None:
    # only sentence punctuation before the courtesy that ends the clause: no span, not an empty one
    assert _rest('") thanks', 0) is None
    span = _rest("orange lantern glow thanks", 0)
    assert span is not None and span.value == "orange lantern glow"
