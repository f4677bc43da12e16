"""Phrasings for measuring chat redaction (``brain.redact``): each positive is a message and the
passphrase(s) it carries; each negative is an ordinary support sentence that must come back
unchanged. English, German, French, Spanish; quoted and unquoted; keyword before and after the
value; several word orders per language. Issue 10 defect 4 started from 16 English phrasings of
"change the Wi-Fi password to …", 10 of which leaked.
"""

from __future__ import annotations

# (language, message, passphrases in it)
POSITIVE: list[tuple[str, str, tuple[str, ...]]] = [
    # --- English
    ("en", "change the Wi-Fi password to Sommer2024!", ("Sommer2024!",)),
    ("en", 'Change the wifi password to "maple-river-sunset-42"', ("maple-river-sunset-42",)),
    ("en", "please set the wifi password to 'Blue Heron 77'", ("Blue Heron 77",)),
    ("en", "new password: Tr0ub4dor&3horse", ("Tr0ub4dor&3horse",)),
    ("en", "The new wifi password is kettlecornfield", ("kettlecornfield",)),
    ("en", "customer wants the WiFi password changed to HarbourLights", ("HarbourLights",)),
    ("en", "use Sommer2024! as the new wifi password", ("Sommer2024!",)),
    ("en", "make “correct horse battery staple” the new passphrase", ("correct horse battery staple",)),
    ("en", "set password=Xk9#mPq2vL", ("Xk9#mPq2vL",)),
    ("en", "WPA key should be 4f7d9a2c1e8b", ("4f7d9a2c1e8b",)),
    ("en", "the network key is now Lantern-Fog-19", ("Lantern-Fog-19",)),
    ("en", 'Please update the wireless passphrase to "gone fishing at dawn"', ("gone fishing at dawn",)),
    ("en", "The customer's Wi-Fi password should be sunflowerfields", ("sunflowerfields",)),
    ("en", "passphrase: velvet.orchid.93", ("velvet.orchid.93",)),
    ("en", "PSK Ab12Cd34Ef", ("Ab12Cd34Ef",)),
    ("en", "can you change their wifi password from OldPass2019 to NewPass2024", ("OldPass2019", "NewPass2024")),
    ("en", "set the WiFi key to 9988776655", ("9988776655",)),
    ("en", "Wifi password for the 5GHz network to be Purple-Rain-88 please", ("Purple-Rain-88",)),
    ("en", "change the password on the router to correct horse battery staple", ("correct horse battery staple",)),
    ("en", 'he wants "Skylark#2024" as his wifi password', ("Skylark#2024",)),
    ("en", "The WiFi password they chose is Moonlight42", ("Moonlight42",)),
    ("en", "router password -> Gr8Router!!", ("Gr8Router!!",)),
    ("en", "wifi pw: Tiger_Lily_2024", ("Tiger_Lily_2024",)),
    ("en", "Set the Wi-Fi passcode to 31415926", ("31415926",)),
    ("en", "the customer's new wifi password is sunflower", ("sunflower",)),
    ("en", "Flat 4B wants to change the Wi-Fi password to BlueOcean#7, and rename the network to HomeNet",
     ("BlueOcean#7",)),
    ("en", "new SSID 'GardenFlat' and passphrase 'quiet-harbour-lantern-9'", ("quiet-harbour-lantern-9",)),
    ("en", "Pls change wifi password to: hunter2hunter2", ("hunter2hunter2",)),
    # --- German
    ("de", "Bitte das WLAN-Passwort auf Sommer2024! ändern", ("Sommer2024!",)),
    ("de", "Sommer2024! soll das neue WLAN-Passwort sein", ("Sommer2024!",)),
    ("de", "Das neue Passwort ist „Blaue Tanne 88“", ("Blaue Tanne 88",)),
    ("de", "Kennwort: Wald#Weg#17", ("Wald#Weg#17",)),
    ("de", "Neues WLAN-Kennwort lautet Tannenzapfen2023", ("Tannenzapfen2023",)),
    ("de", 'Der Netzwerkschlüssel soll "Kaffee-Mühle-55" sein', ("Kaffee-Mühle-55",)),
    ("de", "Setz den WLAN-Schlüssel auf 7391046285", ("7391046285",)),
    ("de", "Ändere das Passwort des WLANs in Regenbogen77", ("Regenbogen77",)),
    ("de", "nimm Sommerwind2024 als WLAN-Passwort", ("Sommerwind2024",)),
    ("de", "Das WLAN Passwort soll apfelbaumblüte sein", ("apfelbaumblüte",)),
    ("de", 'WLAN-Passwort: "Grüne Wiese 2024"', ("Grüne Wiese 2024",)),
    ("de", "Kunde will das Passwort von Alt12345 auf Neu67890! ändern", ("Alt12345", "Neu67890!")),
    ("de", "Das Kennwort für das WLAN ist jetzt Hausboot_91", ("Hausboot_91",)),
    ("de", "PSK ist 0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b",
     ("0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b",)),
    ("de", "Das neue WLAN-Passwort wird sonnenblumenfeld", ("sonnenblumenfeld",)),
    # --- French
    ("fr", "changer le mot de passe wifi en Soleil2024!", ("Soleil2024!",)),
    ("fr", "Le nouveau mot de passe est « Lune Bleue 42 »", ("Lune Bleue 42",)),
    ("fr", "mettre la clé Wi-Fi à Papillon#77", ("Papillon#77",)),
    ("fr", "mot de passe : framboise2023", ("framboise2023",)),
    ("fr", "Soleil2024! sera le nouveau mot de passe", ("Soleil2024!",)),
    ("fr", 'utilise "Chateau-Vert-9" comme mot de passe du wifi', ("Chateau-Vert-9",)),
    ("fr", "le code wifi doit être 5839201746", ("5839201746",)),
    ("fr", "Le mot de passe du réseau sera désormais Montagne_88", ("Montagne_88",)),
    ("fr", "mdp wifi = Baguette2024", ("Baguette2024",)),
    ("fr", "Le client veut le mot de passe 'tournesol-jaune-7'", ("tournesol-jaune-7",)),
    ("fr", "remplacer le mot de passe par cerisierenfleur", ("cerisierenfleur",)),
    ("fr", "la clé de sécurité est maintenant Ocean!Vague3", ("Ocean!Vague3",)),
    ("fr", "Merci de mettre Renard-Argent-21 comme nouveau mot de passe wifi", ("Renard-Argent-21",)),
    ("fr", "passphrase : «Le petit prince 1943»", ("Le petit prince 1943",)),
    # --- Spanish
    ("es", "cambiar la contraseña del wifi a Verano2024!", ("Verano2024!",)),
    ("es", 'la nueva contraseña es "Luna Llena 33"', ("Luna Llena 33",)),
    ("es", "pon Verano2024! como contraseña", ("Verano2024!",)),
    ("es", "contraseña: girasolamarillo", ("girasolamarillo",)),
    ("es", "la clave wifi será Mariposa#12", ("Mariposa#12",)),
    ("es", "Cambia la clave de la red por palmeradelsur", ("palmeradelsur",)),
    ("es", "el cliente quiere que la contraseña sea 'Tortuga-Marina-5'", ("Tortuga-Marina-5",)),
    ("es", "Contraseña del router: Sol_y_Playa_2024", ("Sol_y_Playa_2024",)),
    ("es", "usa «Cielo Azul 77» como nueva contraseña wifi", ("Cielo Azul 77",)),
    ("es", "la clave es 8837261945", ("8837261945",)),
    ("es", "código wifi = Naranja-2023", ("Naranja-2023",)),
    ("es", "Quiero poner la contraseña en Almendro!2022", ("Almendro!2022",)),
    ("es", "Verano2024! será la nueva clave del wifi", ("Verano2024!",)),
    ("es", "la contraseña de mi wifi debe ser montañanevada", ("montañanevada",)),
]

# (language, ordinary support sentence): no secret, must come back unchanged.
NEGATIVE: list[tuple[str, str]] = [
    ("en", "the password is not working"),
    ("en", "he forgot his password"),
    ("en", "rename the network to HomeNet"),
    ("en", "rename the network to HomeNet2024"),
    ("en", "customer forgot the password, please reset"),
    ("en", "the password is definitely wrong"),
    ("en", "Flat 4B says Wi-Fi dies every evening."),
    ("en", "the customer says the wifi password is wrong"),
    ("en", "can you check why the password does not work on the TV"),
    ("en", "the password is too short, ask for another one"),
    ("en", 'new SSID "Flat3B" please'),
    ("en", 'set the SSID to "Garden Flat 2"'),
    ("en", "the password was changed yesterday but the TV still uses the old one"),
    ("en", "the key issue is interference on channel 11"),
    ("en", "the error code is 651"),
    ("en", "what is the wifi password policy?"),
    ("en", "the customer asked whether the password is case-sensitive"),
    ("en", "password reset requested by the customer"),
    ("en", "What should the new Wi-Fi passphrase be? At least 12 characters, not a common password."),
    ("en", "customer wants a new network name"),
    ("en", "the wifi password is on the sticker under the router"),
    ("en", "the password is the one printed on the router"),
    ("en", "the customer wants to change their wifi password"),
    ("en", "Channel 36 is congested, the password is fine"),
    ("en", "WPA2-PSK is enabled on both radios"),
    ("en", "switch security from WPA2-Personal to WPA3-Personal"),
    ("en", "change the password to something stronger"),
    ("en", "I no longer hold the passphrase you sent. Please send the new passphrase again."),
    ("en", "reset the password to factory default"),
    ("en", "the error code is E-1042-X"),
    ("en", "the password doesn't work on the iPhone since yesterday"),
    ("en", "password accepted but no internet on the 2.4GHz band"),
    ("en", "the password prompt keeps coming back on device 00D09E-HG8245-ABC123"),
    ("en", "the password changed after the firmware upgrade to 3.1.4"),
    ("en", "the password should be at least 12 characters"),
    ("en", "change the password to whatever the customer wants"),
    ("en", "use WPA3 as the security mode"),
    ("en", "is the WPA2 password the same on both bands?"),
    ("de", "Das WLAN-Passwort funktioniert nicht"),
    ("de", "Das Passwort wurde gestern geändert"),
    ("de", "Er hat sein Passwort vergessen"),
    ("de", "Benenne das Netzwerk in HomeNet um"),
    ("de", "Das Passwort ist zu kurz"),
    ("de", "Passwort vergessen, bitte zurücksetzen"),
    ("de", "Kunde möchte das WLAN-Passwort ändern"),
    ("de", "Das WLAN bricht jeden Abend ab"),
    ("fr", "Le mot de passe ne fonctionne pas"),
    ("fr", "Il a oublié son mot de passe wifi"),
    ("fr", "Renommer le réseau en MaisonNet"),
    ("fr", "Le mot de passe est trop court"),
    ("fr", "Le client veut changer le mot de passe du wifi"),
    ("fr", "Le wifi coupe tous les soirs"),
    ("fr", "le mot de passe a été changé hier"),
    ("es", "La contraseña no funciona"),
    ("es", "Olvidó la contraseña del wifi"),
    ("es", "Cambia el nombre de la red a CasaNet"),
    ("es", "La contraseña es demasiado corta"),
    ("es", "El cliente quiere cambiar la contraseña del wifi"),
    ("es", "El wifi se corta todas las noches"),
    ("es", "la contraseña fue cambiada ayer"),
]

# The shape, "change the Wi-Fi password to …", sixteen ways (English): counted in POSITIVE too.
CHANGE_THE_WIFI_PASSWORD_TO: list[tuple[str, str, tuple[str, ...]]] = [
    ("en", "change the Wi-Fi password to sunshine2024", ("sunshine2024",)),
    ("en", "change the Wi-Fi password to 'sunshine 2024'", ("sunshine 2024",)),
    ("en", "Change the WiFi password to Sunshine!", ("Sunshine!",)),
    ("en", "change the wi-fi password to: P@ssw0rd-Garden", ("P@ssw0rd-Garden",)),
    ("en", "change the Wi-Fi password to “green tea at noon”", ("green tea at noon",)),
    ("en", "change the Wi-Fi password to greenteaatnoon please", ("greenteaatnoon",)),
    ("en", "could you change the Wi-Fi password to ZebraCrossing", ("ZebraCrossing",)),
    ("en", "change the wifi pass to Zebra-Crossing-1", ("Zebra-Crossing-1",)),
    ("en", "change the Wi-Fi password to zebra crossing at dawn", ("zebra crossing at dawn",)),
    ("en", "change the Wi-Fi password (customer request) to Pineapple#9", ("Pineapple#9",)),
    ("en", "Wi-Fi password change to Pineapple#9 please", ("Pineapple#9",)),
    ("en", "change Wi-Fi password → Mango_Tango_77", ("Mango_Tango_77",)),
    ("en", "change the Wi-Fi password to be Mango_Tango_77", ("Mango_Tango_77",)),
    ("en", "CHANGE THE WIFI PASSWORD TO MANGOTANGO77", ("MANGOTANGO77",)),
    ("en", "change the Wi-Fi password to mangotango, all lowercase", ("mangotango",)),
    ("en", "the Wi-Fi password needs to be changed to Blueberry_Hill_3", ("Blueberry_Hill_3",)),
]
POSITIVE += CHANGE_THE_WIFI_PASSWORD_TO


# --- Pathological inputs (issue 34 item 5): 4,000 characters each (the chat API's limit), built to
# make a backtracking regex or a per-keyword rescan of the text blow up: long runs of every
# character the patterns branch on, keywords and near-misses repeated, quotes that never close,
# "X as the password" with a huge X, long "to X to Y …" chains.
PATHOLOGICAL_LEN = 4000


def _fill(unit: str, head: str = "", tail: str = "", n: int = PATHOLOGICAL_LEN) -> str:
    body = n - len(head) - len(tail)
    return head + (unit * (body // len(unit) + 1))[:body] + tail


def pathological() -> list[tuple[str, str]]:
    """``[(name, text)]``: every text exactly ``PATHOLOGICAL_LEN`` characters."""
    out = [(f"run {ch!r}", _fill(ch)) for ch in "a !-'\".:=\n0é“„«»‘`()[]/,;?_#@\\\t"]
    units = [
        "a!", "a-", "a-!", "!-", "x ", "a'", "'a", "a.", "a.b", "1.", "a:", "0a", "a_", "-a", "Aa", "aA1 ",
        # keywords, compounds and near-misses, alone and with connectors
        "pass-", "pass", "pas", "passw", "password", "password ", "Password: ", "password to ", "passwort-",
        "pw ", "pwd ", "psk ", "key ", "code ", "clé ", "clave ", "secret ", "wifi key ", "wi-fi-key ",
        "mot de passe ", "mots de passe ", "contraseña ", "WLAN-Schlüssel ", "Kennwort ", "code wifi ",
        "passwor ", "wi-fi ke ", "pass word ", "passphrase is ", "the password is ", "password is Aa1! ",
        "to Ab1cdefg ", "as the password ", "use ", "new ", "set ", "from Ab1cdefg to ", "password for the wifi ",
        "pw abcd ", "pw: Xx9!xxxx ", "pw:", "key=Ab12Cd34Ef ",
        # quotes that pair, and that never close
        "\"x\" ", "'x' ", "“a” ", "« a » ", "„a“ ", "\"a", "a\"", "password \"", "password '", "password “",
        "password: \"a ",
        # what the exclusions and validators branch on
        "00:11:22:33:44:55 ", "1.2.3.4 ", "1.2.3.", "a1-b2-", "v1.2.", "http://", "@a.", "5 ghz ", "a.b.",
        # explicit-request words (brain.requests / brain.concepts read every message too)
        "ping a.", "channel 1", "reset ", "factory reset ", "reset factory ", "werkseinstellungen ", "don't ",
        "since the ", "reboot ", "all devices ", "hops ", "packets ", "speed ", "test ",
        "a b c d e f g h ", ". ", "! ", "? ", "is ", "to ", "be ", "Xx9!", "aaaaaaaaaaaaaaaaaaaa1 ",
    ]
    out += [(f"unit {u!r}", _fill(u)) for u in units]
    frames = [("password ", ""), ("", " password"), ("use ", " as the password"), ("password: \"", ""),
              ("password to ", ""), ("\"", "\" password"), ("", " as the new wifi password"), ("password “", "")]
    for unit in ("a", "a ", "A1", "a!", "a-", "x1 ", ". ", "-", "to ", "as ", "the "):
        out += [(f"{head!r}+{unit!r}*+{tail!r}", _fill(unit, head, tail)) for head, tail in frames]
    unique: dict[str, str] = {}
    for name, text in out:
        unique.setdefault(text, name)
    return [(name, text) for text, name in unique.items()]
