"""Where on the gateway a request points: the band(s) and the SSID's role.

Why its own module: "the 2.4" was read as the number 2 and a channel-2 change was applied; a
rename asked for "the 5 GHz one" renamed every band; "the guest network" was not understood at all.
Bands are written many ways ("2.4", "2,4er", "2.4G", "2g", "5 gig", "la 5", "das 5er", "6E"); they
are rewritten to one canonical token (``2.4GHz``/``5GHz``/``6GHz``) in the matching text before any
number is read, so a band is never a value. The role of an SSID (primary, guest, backhaul) is a
word here, and a fact on the device (``brain.roles``): the request says which role, the device's
own data says which SSID has it.
"""

from __future__ import annotations

import re

from brain.understanding.request import Band, SsidRole

_I = re.IGNORECASE
# Canonical rewrites, most specific first. A bare "5" is a band only after an article and not after
# a channel word ("the 5", "la 5", "das 5er", "el de 5"); "2.4" is never a channel, so always a band. Never
# inside a word: "Patel_Home_5G" is a network's name, not "Patel_Home_5GHz".
_BAND_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w.,])2[.,]4(?:\s*-?\s*(?:ghz|gig\w*|g\b|er\b|ger\b))?(?!\d|[.,]\d)", _I), "2.4GHz"),
    (re.compile(r"(?<![\w.,])2\s*(?:ghz|gig\w*|g)\b", _I), "2.4GHz"),
    (re.compile(r"(?<![\w.,])5\s*-?\s*(?:ghz|gig\w*|g(?!\w))", _I), "5GHz"),
    (re.compile(r"(?<![\w.,])5er\b", _I), "5GHz"),
    (re.compile(r"(?<![\w.,])6er\b", _I), "6GHz"),  # "beim 6er die Leistung": it went to the other radios
    (re.compile(r"(?<![\w.,])6\s*-?\s*(?:ghz|gig\w*|e\b)", _I), "6GHz"),
    # ("sube la potencia del 5 al 75%", "dreh beim 5 auf 50"): "del 5" was read as the value 5
    (re.compile(r"\b(the|la|le|el|das|die|den|on|auf|sur|en|el de|la de|de la|del|du|vom|beim|dem|of the)\s+"
                r"(?:band\s+|bande\s+|banda\s+)?5"
                r"(?=\s*(?:band|bande|banda|one|side|radio|wifi|wi-fi|wlan|network|netz|réseau|red|alone|\?|$|,|\.|!|;|:|"
                r"\s[-–—]\s)|"
                # "if the 5 is still on 36": the band said to be on a channel
                r"\s+(?:is|ist|est|está|sigue|stays|bleibt)\s+(?:still\s+|noch\s+|encore\s+|todavía\s+)?"
                r"(?:on|auf|sur|en)\s+(?:the\s+|le\s+|el\s+|dem\s+)?(?:channel\s+|kanal\s+|canal\s+)?\d|"
                r"\s+(?:on|to|sur|à|auf|al|a|en|onto)\s+(?:le\s+|la\s+|el\s+|den\s+|the\s+)?"
                r"(?:channel\s+|kanal\s+|canal\s+)?\d|"
                # "baja el 5 a un cuarto", "pon el 5 a la mitad": the band set to a share of its power
                r"\s+(?:to|à|auf|al|a|aux|en)\s+(?:the\s+|a\s+|die\s+|ein\s+|la\s+|un\s+|une\s+|el\s+)?"
                r"(?:half|(?:3 )?quarters?|hälfte|(?:3 ?)?viertel|dreiviertel|moitié|(?:3 )?quarts?|mitad|"
                r"(?:3 )?cuartos?|4º)(?!\w))", _I), r"\1 5GHz"),
    # "¿cuántos hay conectados al 5?", "connectés au 5": a band clients are connected to ("al 5" alone may be a value)
    (re.compile(r"\b(conectad[oa]s?|connectée?s?|verbunden|eingeloggt)\s+(al|au|am|an der|a la)\s+5"
                r"(?=\s*(?:\?|$|,|\.|!|;))", _I), r"\1 \2 5GHz"),
    # "c'est la 5 qu'il faut baisser", "je parlais de la 5 en fait", "la de 5 también", "deja el de 5 a un cuarto":
    # feminine, or "the one of 5", so the band
    # (la bande, la red) — never a channel (le canal, el canal) or a percentage; "le 5", "the 5" stay numbers
    (re.compile(r"(?<![\w'])(la|la de|de la|el de)\s+([56])(?![\w%]|\s*(?:%|h\b|heures?|minutes?|min\b|mhz|dbm|fois|"
                r"veces|horas?|por ?ciento|pour ?cent|euros?|€|[.,]?\d|de la (?:tarde|mañana|noche|madrugada)))", _I),
     r"\1 \2GHz"),  # … and "¿y a la de 6?" the 6 GHz one
)
_CANON = re.compile(r"\b(2\.4GHz|5GHz|6GHz)\b")
_BOTH = re.compile(r"\b(both bands|both|every band|all bands|all (the )?radios|"
                   r"beide\w* (bänder|bander|frequenzen|netze)?|"
                   r"alle (bänder|frequenzen)|les deux( bandes)?|toutes les bandes|ambas( bandas)?|todas las bandas|"
                   r"las dos bandas)\b", _I)

ROLE_WORDS: dict[SsidRole, re.Pattern[str]] = {
    "guest": re.compile(r"\b(guests?|gäste\w*|gaeste\w*|gast\w*|invit[ée]e?s?|invitad[oa]s?|visitors?|besucher\w*|"
                        r"visiteurs?|visitas?)\b", _I),
    "backhaul": re.compile(r"\b(backhaul|mesh link|mesh backhaul)\b", _I),
    "primary": re.compile(r"\b(main|primary|home|haupt\w*|principal|principale|normal\w*|own|eigene\w*)\s+"
                          r"(network|wi-?fi|wlan|ssid|netz\w*|réseau|red)\b|\b(hauptnetz\w*|heimnetz\w*)\b|"
                          # "not the guest, the main one" / "pas l'invité, le principal": the word alone after
                          # an article, at the end of its clause
                          r"\b(the|le|el|la|das|den)\s+(main|primary|principal|principale|haupt)(\s+one)?"
                          r"(?=\s*(?:$|[,.;!?)]))", _I),
}


def normalise_bands(text: str) -> str:
    """``text`` with every way of writing a band replaced by its canonical token."""
    for rx, canon in _BAND_FORMS:
        text = rx.sub(canon, text)
    return text


def bands_in(text: str) -> list[Band]:
    """The bands a (normalised) text names, in order; every band for "both"/"all bands"."""
    found: list[Band] = []
    for m in _CANON.finditer(text):
        b: Band = "2.4GHz" if m.group(1).startswith("2") else "5GHz" if m.group(1).startswith("5") else "6GHz"
        if b not in found:
            found.append(b)
    return found


# "and the 6?", "et sur le 6 ?", "und das 5?": a follow-up that is nothing but a bare 2.4, 5 or 6 names a band (a
# channel is asked for with its word; a follow-up that only names something names what the question was asked of)
_BARE_BAND = re.compile(r"^\W*(?:and|und|et|y)?\s*(?:the|le|la|el|das|den|die|on the|sur le|auf dem)?\s*"
                        r"(2[.,]4|5|6)\s*\W*$", _I)


def bare_band(text: str) -> list[Band]:
    """The band a bare follow-up names ("and the 6?"), else []."""
    m = _BARE_BAND.match(text)
    if m is None:
        return []
    return ["2.4GHz" if m.group(1).startswith("2") else "5GHz" if m.group(1) == "5" else "6GHz"]


def band_in(text: str) -> Band | None:
    found = bands_in(normalise_bands(text))
    return found[0] if len(found) == 1 else None


def all_bands(text: str) -> bool:
    return bool(_BOTH.search(text))


# "both bands" are two: the 2.4 and 5 GHz bands every dual-band client knows — on a tri-band gateway never
# the 6 GHz one too ("every band", "all radios" are all of them)
_TWO = re.compile(r"\b(both( bands)?|beide\w*( (bänder|bander|frequenzen|netze))?|les deux( bandes)?|"
                  r"ambas( bandas)?|las dos( bandas)?)\b", _I)


def both_bands(text: str) -> list[Band]:
    """["2.4GHz", "5GHz"] when the text says both (two) bands, else []."""
    return ["2.4GHz", "5GHz"] if _TWO.search(text) else []


def role_in(text: str) -> SsidRole | None:
    """The SSID role a text names (guest before primary: "the guest one, not the main network" names
    both; the exclusion is read elsewhere)."""
    order: tuple[SsidRole, ...] = ("guest", "backhaul", "primary")
    for role in order:
        if ROLE_WORDS[role].search(text):
            return role
    return None
