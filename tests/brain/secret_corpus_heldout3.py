"""Issue 54, the THIRD held-out split: fresh phrasings of a secret, written on 2026-11-28 before the
second split's two misses ("die alte Mühle am Bach", "pomme verte et miel") were studied, and before
any rule was changed for them. Nothing in ``core/redact.py`` or ``brain/secret_guard.py`` was changed
to make one of these pass; a miss here is fixed only through a new tuning phrasing of its class, and
then this split is no longer unseen. First seen: see ``tests/brain/test_secret_masking_corpus.py``.

Same shape as the tuning split: ``(language, context, message, secret)``.
"""

from __future__ import annotations

from tests.brain.secret_corpus import Phrasing

HELDOUT3: list[Phrasing] = [
    # --- English
    ("en", "", "he'd like the wireless password changed to Copper-Kettle-58 please", "Copper-Kettle-58"),
    ("en", "", "set the psk on the 5 GHz network to rainy tuesday afternoon", "rainy tuesday afternoon"),
    ("en", "change the home wifi password", "sorry, make it Walnut&Fig-63 instead", "Walnut&Fig-63"),
    ("en", "", "the wifi key she wants: harbour lights and fog", "harbour lights and fog"),
    ("en", "", "can the guest network password become Sunflower-Field-14?", "Sunflower-Field-14"),
    ("en", "", "please use Mosaic_Tile_907 as the new wifi password", "Mosaic_Tile_907"),
    ("en", "new wifi password please", "it should be Quiet-Meadow-22", "Quiet-Meadow-22"),
    # --- German
    ("de", "", "bitte das WLAN-Passwort auf Bergsee-Morgen-31 setzen, danke", "Bergsee-Morgen-31"),
    ("de", "", "WLAN-Kennwort soll der rote Fuchs springt werden", "der rote Fuchs springt"),
    ("de", "das WLAN-Passwort ändern bitte", "ach nee, nimm lieber Haselnuss_Torte_5", "Haselnuss_Torte_5"),
    ("de", "", "der Kunde möchte als Passwort fürs Gäste-WLAN Regenbogen-Kiesel-70", "Regenbogen-Kiesel-70"),
    ("de", "", "neuer WPA-Schlüssel lautet Nebel über dem Tal", "Nebel über dem Tal"),
    ("de", "", "setz den WLAN-Schlüssel bitte auf Leuchtturm!Nord8", "Leuchtturm!Nord8"),
    # --- French
    ("fr", "", "mettez le mot de passe du wifi à Olivier-Soleil-26 s'il vous plaît", "Olivier-Soleil-26"),
    ("fr", "", "le mot de passe wifi doit devenir la mer est calme ce soir", "la mer est calme ce soir"),
    ("fr", "il faut changer le mot de passe wifi", "pardon, plutôt Galette-Sarrasin-19", "Galette-Sarrasin-19"),
    ("fr", "", "nouvelle clé wifi pour les invités : Noisette_Douce_42", "Noisette_Douce_42"),
    ("fr", "", "elle aimerait comme mot de passe wifi Cerisier-Japon-8", "Cerisier-Japon-8"),
    ("fr", "", "clé WPA souhaitée = forêt de pins sous la neige", "forêt de pins sous la neige"),
    ("fr", "", "tu peux mettre Boussole#Ouest#3 comme clé du wifi ?", "Boussole#Ouest#3"),
    # --- Spanish
    ("es", "", "pon la contraseña del wifi en Castaña-Otoño-45 por favor", "Castaña-Otoño-45"),
    ("es", "", "la clave del wifi tiene que ser la luna sobre el mar", "la luna sobre el mar"),
    ("es", "cambia la contraseña del wifi", "no, mejor Alcachofa_Verde_12", "Alcachofa_Verde_12"),
    ("es", "", "nueva contraseña para la red de invitados: Cometa-Azul-77", "Cometa-Azul-77"),
    ("es", "", "el cliente quiere como clave wifi Lince-Iberico-90", "Lince-Iberico-90"),
    ("es", "", "clave WPA deseada: viento del norte y lluvia", "viento del norte y lluvia"),
    ("es", "ponle contraseña nueva al wifi", "que sea Palmera#Canaria#6", "Palmera#Canaria#6"),
]
