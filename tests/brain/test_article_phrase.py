"""A new passphrase said as a phrase that begins with an article (issue 54, "a secret approved blind"):
after a copula ("… is the quick brown fox") and — found later, by phrasings written for this — after an
assigning word ("set the password to the blue tractor", "auf die grüne Wiese", "en une tortue
rapide"), which leaked in all four languages (0 of 8 masked before). Descriptions of a password stay
readable: the support chat needs "the one on the sticker", "the same as before", "the customer's usual
one" to say what is meant. The boundaries are the module's own: three words at least, a clause's end,
an article that ends its clause (core/redact.py, ``_article_phrase`` and ``_phrase``)."""

from __future__ import annotations

import pytest

from core.redact import redact

AFTER_ASSIGN = [
    ("set the new wifi password to the blue tractor", "the blue tractor"),
    ("please update the network password to the river runs deep", "the river runs deep"),
    ("setz das WLAN-Passwort auf die grüne Wiese bitte", "die grüne Wiese"),
    ("ändere das Netzwerkpasswort auf das kleine Boot segelt", "das kleine Boot segelt"),
    ("change le mot de passe du wifi en une tortue rapide", "une tortue rapide"),
    ("mets le nouveau mot de passe wifi à la lune rousse brille", "la lune rousse brille"),
    ("cambia la contraseña del wifi a la luna llena brilla", "la luna llena brilla"),
    ("pon la clave wifi nueva en el gato come pescado", "el gato come pescado"),
]
AFTER_COPULA = [
    ("her new wifi password is the blue tractor", "the blue tractor"),  # exactly three words
    ("ihr neues WLAN-Passwort ist die rote Katze", "die rote Katze"),
    ("her new wifi password is The Blue Tractor", "The Blue Tractor"),
]
DESCRIPTIONS = [
    "set the wifi password to the one on the sticker",
    "change the password to the same one as before",
    "reset the wifi password to the factory default",
    "set the password back to the one printed on the box",
    "setz das Passwort auf die Werkseinstellung zurück",
    "remets le mot de passe à la valeur d'usine",
    "cambia la contraseña a la de la etiqueta",
    "change the wifi password to the customer's usual one",
    "set the new wifi password to the tenant’s chosen phrase",  # a typographic apostrophe alike
    "set the password to the value on the label",
    "update the wifi password to the new one she chose",
    "her new wifi password is the same as before",
    "her new wifi password is the fox",  # two words: an article and a noun is how people talk about it
    "her new wifi password is the, blue tractor",  # the article ends its clause
    "her wifi password is the blue tractor",  # no change asked: a statement about it
]


@pytest.mark.parametrize(("text", "secret"), AFTER_ASSIGN + AFTER_COPULA)
def test_a_phrase_after_an_article_is_masked_whole(text: str, secret: str) -> None:
    red, found = redact(text)
    assert list(found.values()) == [secret]
    assert secret not in red and "[secret:1]" in red


@pytest.mark.parametrize("text", DESCRIPTIONS)
def test_a_description_of_the_password_stays_readable(text: str) -> None:
    assert redact(text) == (text, {})


def test_the_phrase_ends_with_its_clause_and_the_next_instruction_stays() -> None:
    red, found = redact("new wifi password: the green apple falls far. Then reboot it")
    assert found == {"[secret:1]": "the green apple falls far"}
    assert red == "new wifi password: [secret:1]. Then reboot it"


def test_after_a_colon_the_phrase_is_taken_without_the_space_before_the_clause_end() -> None:
    red, found = redact("new wifi password: the green apple falls far ; reboot after")
    assert list(found.values()) == ["the green apple falls far"]
    assert red.endswith("; reboot after")


def test_a_colon_with_nothing_after_it_masks_nothing() -> None:
    assert redact("new wifi password: . then reboot") == ("new wifi password: . then reboot", {})


def test_a_sentence_before_the_keyword_does_not_end_the_phrase() -> None:
    """The clause end is looked for after the value, not from the start of the message."""
    text = "Hi. Done. New wifi password: the green apple falls far"
    red, found = redact(text)
    assert list(found.values()) == ["the green apple falls far"]
    assert red == "Hi. Done. New wifi password: [secret:1]"


@pytest.mark.parametrize(("text", "secret"), [
    ("her new wifi password is a red kite flies", "a red kite flies"),
    ("set the wifi password to a red kite flies", "a red kite flies"),
])
def test_a_phrase_after_the_english_article_a_is_masked(text: str, secret: str) -> None:
    """Found by a mutation helper: "a" after "to" or "is" was skipped as Spanish "a" (to), so the phrase lost its
    article and its three-letter second word was no value on its own — the whole passphrase stayed readable."""
    red, found = redact(text)
    assert list(found.values()) == [secret] and secret not in red


def test_spanish_a_still_assigns() -> None:
    assert list(redact("cambia la contraseña a Tortuga-9")[1].values()) == ["Tortuga-9"]
