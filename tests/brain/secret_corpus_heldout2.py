"""Issue 54, the SECOND held-out split: fresh phrasings of a secret, written after the first held-out
split's two misses were known and before any rule was changed for them (as the first split's
docstring asks: a miss there is fixed by a rule a new tuning phrasing needs too, and held-out
phrasings are then written afresh). Nothing in ``core/redact.py`` or ``brain/secret_guard.py`` was
changed to make one of these pass. First seen (before the fix of the first split's misses): see
``tests/brain/test_secret_masking_corpus.py``.

Same shape as the tuning split: ``(language, context, message, secret)``.
"""

from __future__ import annotations

from tests.brain.secret_corpus import Phrasing

HELDOUT2: list[Phrasing] = [
    # --- English
    ("en", "", "the tenant's new wlan password is the lazy dog sleeps", "the lazy dog sleeps"),
    ("en", "", "could you switch his wifi passphrase over to Granite-Harbour-407 today", "Granite-Harbour-407"),
    ("en", "please reset the wifi password for her", "she picked CloudBerry-Jam-12", "CloudBerry-Jam-12"),
    ("en", "", "router says wpa passphrase: silver birch at midnight", "silver birch at midnight"),
    ("en", "", "new pw for the 2.4 network -> Pinecone#Trail#5", "Pinecone#Trail#5"),
    ("en", "update the guest wifi key", "oops, I meant Lantern-Fish-830", "Lantern-Fish-830"),
    ("en", "", "what's the max length? anyway he wants wifipass = OceanBreeze!2026", "OceanBreeze!2026"),
    ("en", "", "customer's chosen network key is marmalade sandwich", "marmalade sandwich"),
    # --- German
    ("de", "", "das neue WLAN-Passwort ist die alte Mühle am Bach", "die alte Mühle am Bach"),
    ("de", "", "Kundin will als WLAN-Schlüssel Apfelstrudel-2024 haben", "Apfelstrudel-2024"),
    ("de", "Passwort vom WLAN bitte ändern", "nein, lieber Sommerwiese-88", "Sommerwiese-88"),
    ("de", "", "Passwort neu: Kirschblüte im Mai", "Kirschblüte im Mai"),
    ("de", "", "kannst du den Netzwerkschlüssel auf Tannenzapfen77 ändern?", "Tannenzapfen77"),
    # --- French
    ("fr", "", "son nouveau mot de passe wifi est le chat noir danse", "le chat noir danse"),
    ("fr", "", "mot de passe nouveau : Lavande-Provence-21", "Lavande-Provence-21"),
    ("fr", "changer la clé du wifi svp", "non, finalement Mistral-Cote-47", "Mistral-Cote-47"),
    ("fr", "", "pourriez-vous passer la clé wifi à Croissant2Beurre ?", "Croissant2Beurre"),
    ("fr", "", "la clé de sécurité sera pomme verte et miel", "pomme verte et miel"),
    ("fr", "", "le client veut que le mot de passe soit Papillon-Bleu-9", "Papillon-Bleu-9"),
    # --- Spanish
    ("es", "", "clave wifi nueva: sol de invierno en madrid", "sol de invierno en madrid"),
    ("es", "", "su nueva contraseña del wifi es el perro ladra fuerte", "el perro ladra fuerte"),
    ("es", "hay que cambiar la clave del wifi", "mejor pon Naranja-Valencia-33", "Naranja-Valencia-33"),
    ("es", "", "¿se puede poner la contraseña Girasol_Amarillo_4?", "Girasol_Amarillo_4"),
    ("es", "", "contraseña del wifi = Tortilla-Patata-60", "Tortilla-Patata-60"),
    ("es", "cambiar contraseña wifi por favor", "perdón, era Flamenco-Rojo-71", "Flamenco-Rojo-71"),
    ("es", "", "quiere que la clave sea MarAzul2025", "MarAzul2025"),
]
