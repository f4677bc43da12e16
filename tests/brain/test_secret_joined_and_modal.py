"""Three leak classes the held-out secret splits found (issue 54, "secrets by construction"), each as a rule:

* **a phrase joined by "and"** — "harbour lights and fog", "Salz und Pfeffer": "and" ended an unquoted value,
  and what followed it stayed readable. It now joins one to three plain words that end the sentence; "and"
  before the agent's next request, a courtesy or a function word still ends the value ("… and reboot it");
* **a change said after the keyword** — "should become", "muss … werden", "doit devenir", "ha de ser": a
  phrase beginning with an article was masked only where a cue before the keyword asked for a change;
* **"wanted"/"chosen" before the colon** — "clé WPA souhaitée =", "password chosen by the customer:".

And "old" opening a phrase whose noun follows ("die alte Mühle am Bach"), where "the old one" stays readable.
Sentences written for these tests (none from a corpus split); beside them, what must stay readable.
"""

from __future__ import annotations

import pytest

from brain.secret_guard import mask_turn
from core.redact import redact

MASKED = [
    ("new guest wifi password: stone walls and ivy", "stone walls and ivy"),
    ("das neue WLAN-Passwort ist Brot und Butter", "Brot und Butter"),
    ("nouveau mot de passe wifi : sel et poivre", "sel et poivre"),
    ("clave wifi nueva: arroz con leche y canela", "arroz con leche y canela"),
    ("the guest wifi password will become the silver fox runs", "the silver fox runs"),
    ("das Gast-WLAN-Passwort soll der graue Esel lacht werden", "der graue Esel lacht"),
    ("le mot de passe du wifi doit devenir le petit pont de bois", "le petit pont de bois"),
    ("la contraseña del wifi tiene que ser el tren de las ocho", "el tren de las ocho"),
    ("wifi password wanted by the tenant: orange lantern glow", "orange lantern glow"),
    ("contraseña wifi elegida: Cactus-Desierto-31", "Cactus-Desierto-31"),
    ("das neue WLAN-Passwort ist das alte Rathaus brennt", "das alte Rathaus brennt"),
    ("her new wifi password is the old mill wheel", "the old mill wheel"),
]

READABLE = [
    "set the wifi password to the one on the sticker and reboot",
    "the wifi password should be the one on the sticker",
    "the new wifi password will be the old one",
    "das WLAN-Passwort soll das alte bleiben",
    "la clave del wifi debe ser la misma de antes",
    "her new wifi password is the top one",
    "the wifi password should become the old router default",
    "le mot de passe doit devenir plus long",
    "the password should be longer and stronger",
    "la contraseña tiene que ser más segura",
    "la contraseña tiene que ser distinta",
    "the password must be at least 12 characters",
    "the wifi password chosen by the customer is too short",
    "the password has to be changed by the customer",
    "le mot de passe sera changé demain",
    "la contraseña será cambiada mañana",
]


@pytest.mark.parametrize(("text", "secret"), MASKED)
def test_the_whole_value_is_masked(text: str, secret: str) -> None:
    out = mask_turn(text).text
    assert secret not in out and "[secret]" in out, out
    assert all(w not in out for w in secret.split() if len(w) > 3), out


@pytest.mark.parametrize("text", READABLE)
def test_descriptions_and_requirements_stay_readable(text: str) -> None:
    assert mask_turn(text).text == text
    assert redact(text) == (text, {})


@pytest.mark.parametrize(("text", "secret", "after"), [
    ("set the wifi password to sunflower and reboot", "sunflower", " and reboot"),
    ("new wifi password: Tiger88 and thanks", "Tiger88", None),
    ("the new password is tiger lily and it works now", "tiger lily", " and it works now"),
    ("change the wifi password to blue sky and the SSID to Lindenhof", "blue sky", " and the SSID to Lindenhof"),
    ("das neue WLAN-Passwort ist Sonnenblume und bitte neu starten", "Sonnenblume", " und bitte neu starten"),
    ("set the wifi password to copper barn and blue door and reboot now", "copper barn", None),
])
def test_and_before_a_new_clause_still_ends_the_value(text: str, secret: str, after: str | None) -> None:
    """The words after "and" join the value only when they end the sentence and are plain words."""
    red, found = redact(text)
    assert list(found.values())[:1] == [secret], found
    if after is not None:
        assert red.endswith(after), red
