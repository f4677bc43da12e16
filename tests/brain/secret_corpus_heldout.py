"""Issue 54 deliverable 3, the HELD-OUT split: phrasings of a secret written for this issue at the
same time as the tuning split (``tests/brain/secret_corpus.py``) and set aside unread by the
masking's tuning. Nothing in ``core/redact.py`` or ``brain/secret_guard.py`` was changed to make one
of these pass: they measure how the masking does on phrasings it was not fitted to. Do not tune on
them; a miss here is fixed by a rule that a new phrasing in the tuning split needs too, and this
split then gets fresh phrasings.

Same shape as the tuning split: ``(language, context, message, secret)``.
"""

from __future__ import annotations

from tests.brain.secret_corpus import Phrasing

HELDOUT: list[Phrasing] = [
    # --- English
    ("en", "", "quick q — how do I change the wifi password? customer says it should be Lighthouse-Keeper-6",
     "Lighthouse-Keeper-6"),
    ("en", "new wifi password please", "hmm no, change that to Orange-Kite-88", "Orange-Kite-88"),
    ("en", "", "her new wireless password is the quick brown fox", "the quick brown fox"),
    ("en", "", "set the 5 GHz network password to Falcon#Ridge#2", "Falcon#Ridge#2"),
    ("en", "she'd like to change the wifi password", "scratch that, Winter-Solace-55", "Winter-Solace-55"),
    ("en", "", "login password for the router web page: Rtr-Admin-993", "Rtr-Admin-993"),
    ("en", "", "Is it possible to set the passphrase to riverstone42?", "riverstone42"),
    ("en", "", "whats the wifi pw? oh she wants it to be kittycat2024", "kittycat2024"),
    ("en", "", "new wifi password = dragonfly in amber", "dragonfly in amber"),
    ("en", "", "WPA2 key: 7f3a9c2e1b8d", "7f3a9c2e1b8d"),
    ("en", "", "customer wants passphrase Zebra_Crossing_61, ok?", "Zebra_Crossing_61"),
    # --- German
    ("de", "", "Wie ändere ich das WLAN-Kennwort? Der Kunde möchte Heidelbeere-19", "Heidelbeere-19"),
    ("de", "bitte ein neues WLAN-Kennwort setzen", "Korrektur: Heidelbeere-91", "Heidelbeere-91"),
    ("de", "", "WLAN Passwort soll sein rote Rosen im Garten", "rote Rosen im Garten"),
    ("de", "", "Schlüssel fürs WLAN lautet Donaudampfer7", "Donaudampfer7"),
    ("de", "", "kannst du bitte das Passwort vom Gast-WLAN auf Gast-Zugang-2025 setzen", "Gast-Zugang-2025"),
    # --- French
    ("fr", "", "comment changer la clé wifi ? le client veut Cerisier-Rose-33", "Cerisier-Rose-33"),
    ("fr", "il faut changer le mot de passe du wifi", "pardon, plutôt Cerisier-Rose-34", "Cerisier-Rose-34"),
    ("fr", "", "mot de passe du wifi : le petit prince dort", "le petit prince dort"),
    ("fr", "", "il faudrait mettre Bordeaux-Vin-1999 comme mot de passe", "Bordeaux-Vin-1999"),
    ("fr", "", "la clé WPA c'est Etoile2020!", "Etoile2020!"),
    # --- Spanish
    ("es", "", "¿cómo cambio la contraseña del wifi? el cliente quiere Mariposa-Roja-21", "Mariposa-Roja-21"),
    ("es", "quiere cambiar la contraseña del wifi", "perdón, era Mariposa-Roja-12", "Mariposa-Roja-12"),
    ("es", "", "contraseña nueva: luna llena sobre el mar", "luna llena sobre el mar"),
    ("es", "", "pon Sevilla-Sol-77 como clave del wifi", "Sevilla-Sol-77"),
    ("es", "", "el código wifi es Barcelona1992", "Barcelona1992"),
]
