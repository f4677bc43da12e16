"""Answers from the data model: the parameters a question is about, found by what they are, read live.

Why not a topic list: support agents ask about anything a gateway holds — the WAN address, the DHCP
lease, the transmit power, whether the SSID is hidden, the 802.11 modes — and a fixed list of topics
answered the rest with the generic "what is the problem?" menu. Here the question is matched against
the device's data model itself: every parameter of its TR-181 model (the standard's names split into
words, the Broadband Forum's own description of each — ``core.kernel.datamodel.describe`` — and its
units), ranked with BM25 (``rank-bm25``), the question's words first mapped to the standard's words
through a small four-language lexicon ("Sendeleistung", "puissance d'émission", "potencia" → transmit
power). The best candidates are then read **live** from the device, object by object, until one the
device has answers; its instances are narrowed to the band, the network role or the side (WAN/LAN) the
question names. Nothing is guessed: a parameter is said only as read, with its path and when.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from rank_bm25 import BM25Okapi

from brain.understanding import targets
from core.kernel.datamodel.describe import descriptions

_I = re.IGNORECASE
# How a question names a CWMP device's inform to its ACS (a USP agent has none).
_INFORM_WORDS = (r"phone home|report in|check in|checks in|checking in|checked in|report to the acs|talk to the acs|"
                 r"inform\w*|meldeintervall|meldet sich|remonte|remontée|informa\w*|"
                 # "la box contacte l'ACS", "se comunica con el ACS", "kontaktiert den ACS": a contact with the ACS
                 r"(contacte\w*|comunica\w*|reporta\w*|kontaktier\w*|contact\w*|talks? to)\b(?=[^.?!]{0,20}\bacs\b)")


def about_inform(question: str) -> bool:
    """Whether ``question`` asks about the device's contact with an ACS (its periodic inform)."""
    return re.search(_INFORM_WORDS + r"|\bacs\b", question, _I) is not None


# A question's words → the standard's words (EN colloquial, DE, FR, ES). Phrases before single words.
SYNONYMS: tuple[tuple[str, str], ...] = (
    (r"ip publique|adresse publique|öffentliche\w* ip|ip pública|ip publica|public ip|external ip|wan ip|"
     r"wan address|wan-adresse|adresse wan|dirección wan|internet address|ip address|ip-adresse|adresse ip|"
     r"dirección ip|\bips?\b", "ipaddress ipv4address ip address interface"),
    (r"transmit power|tx power|sendeleistung|sendestärke|puissance d'émission|puissance d'emission|"
     r"puissance|potencia de transmisión|potencia|émet|emet|emite", "transmitpower transmit power"),
    (r"lease|bail|arrendamiento|concesión|vergabe", "leasetime lease time dhcp"),
    (_INFORM_WORDS, "periodicinforminterval periodic inform interval"),
    (r"hidden|broadcast\w*|versteckt|ausgeblendet|sichtbar|masqué|masquée|diffusé|diffusée|cach[ée]e?|oculta|"
     r"oculto|visible|difund\w*", "ssidadvertisementenabled ssid advertisement beacons"),
    (r"security(?: mode)?|encrypt\w*|sicherheit\w*|verschlüsselung|mode de sécurité|sécurité|securite|chiffrement|"
     r"modo de seguridad|seguridad|cifrado|wpa\d?|wep", "security modeenabled mode enabled"),
    (r"802\.11\w*|wi-?fi ?[4567]\b|\bax\b|\bac\b|\bmodes?\b|\bstandards?\b|\bnormes?\b|estándar\w*|\bmodos\b",
     "operatingstandards "
     "operating standards ieee 802.11"),
    (r"serial\w*|seriennummer|numéro de série|número de serie", "serialnumber serial number"),
    (r"time ?zone|zeitzone|fuseau horaire|zona horaria", "localtimezone time zone local"),
    (r"subnet\w*|netmask|netzmaske|masque|máscara", "subnetmask subnet mask"),
    (r"gateway address|default gateway|standard-?gateway|passerelle|puerta de enlace", "defaultgateway gateway"),
    (r"hardware[ -]?(version|revision|rev)|hw[ -]?(version|rev\w*)|hardware|révision matérielle|"
     r"versión de hardware|hardwarestand", "hardwareversion hardware version"),
    (r"bandwidth|width|breite|largeur|ancho", "operatingchannelbandwidth channel bandwidth"),
    (r"channel|kanal|canal", "channel"),
    (r"regulatory|country code|ländercode|regulierung|pays|país", "regulatorydomain regulatory domain"),
    (r"dhcp[- ]?(range|bereich|pool)|address range|adressbereich|ip-?bereich|plage|rango", "minaddress maxaddress "
     "dhcp pool address"),
    (r"mac(?: address)?|mac-adresse|adresse mac|dirección mac", "macaddress mac address"),
    (r"switched on|turned on|\bon\b|eingeschaltet|\ban\b|aktiv\w*|activ[ée]e?|allum[ée]e?|encendid[oa]|"
     r"activad[oa]|enabled?|disabled?|\boff\b|aus(geschaltet)?|éteint\w*|apagad[oa]", "enable status"),
    (r"up ?time|laufzeit|depuis quand", "uptime"),
    (r"funk\w*|radios?|sender|émetteur|emisora", "radio wifi"),
)
# Words that carry no parameter meaning (function words in four languages, chat, the device itself).
_STOP = frozenset(re.split(r"\s+", """
a an the is are was were be been it its this that these those of on in at to for with by from and or but not no
what which who how when where why does do did has have had can could would will should any some there here me my
your his her their our customer customers client box router gateway modem device unit set currently right now
just please tell know look actually really still also ok okay so then at all them they
der die das ein eine einen ist sind war hat haben wie was welche welcher welches wann wo warum bei beim dem den des
im in am auf für mit von zu und oder aber nicht kein gerade jetzt eigentlich überhaupt kunde kundin denen da sie er es
le la les un une des est sont était a ont quel quelle quels quelles quand où pourquoi comment sur dans au aux du de
pour avec et ou mais pas sa son ses leur box actuellement maintenant est-ce que qu il elle c ce cette
el la los las un una es son está están cuál cuáles qué cuándo dónde por cómo en al del de con y o pero no su sus
ahora mismo tiene tienen router
""".strip()))
# Objects a home gateway's questions are about: a standard object outside these is kept, ranked lower.
_GATEWAY = ("Device.DeviceInfo.", "Device.ManagementServer.", "Device.WiFi.Radio.", "Device.WiFi.SSID.",
            "Device.WiFi.AccessPoint.", "Device.DHCPv4.Server.", "Device.DNS.Client.", "Device.IP.Interface.",
            "Device.Hosts.", "Device.Time.", "Device.Ethernet.Interface.", "Device.PPP.Interface.",
            "Device.NAT.", "Device.Firewall.", "Device.Optical.Interface.", "Device.DSL.Line.", "Device.Routing.")
_WAN = re.compile(r"\b(wan|public|publique|pública|publica|öffentlich\w*|external|externe?|extern\w*|internet)\b", _I)
_LAN = re.compile(r"\b(lan|locale?s?|lokal\w*|privat\w*|private?|privée|interne?|intern\w*)\b", _I)
_READS = 3  # objects read live per question, at most
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> list[str]:
    """A question's words as the index holds them: synonyms mapped, bands and function words out."""
    low = targets.normalise_bands(text).lower()
    mapped: list[str] = ["wifi"] if re.search(r"\b(2\.4ghz|5ghz|6ghz)\b", low) else []  # a band is the Wi-Fi's
    low = re.sub(r"\b(2\.4ghz|5ghz|6ghz)\b", " ", low)
    for pattern, standard in SYNONYMS:
        if re.search(pattern, low, _I):
            mapped += standard.split()
            low = re.sub(pattern, " ", low, flags=_I)
    rest = [_stem(w) for w in re.findall(r"[a-zäöüßàâçéèêëîïôûùüÿñáíóú0-9.]+", low) if w not in _STOP and len(w) > 1]
    return [w for w in mapped + rest if w not in _STOP]


def _doc(pattern: str, description: str) -> list[str]:
    segments = [s for s in pattern.split(".")[1:] if s and s != "{i}"]
    name = segments[-1]
    # each object's name as one word and as its parts ("WiFi" → wifi; "AccessPoint" → accesspoint, access,
    # point); the leaf's own name weighs most, twice
    objects = [w for s in segments[:-1] for w in {s.lower(), *(x.lower() for x in _CAMEL.findall(s))}]
    out = [*[name.lower(), *(w.lower() for w in _CAMEL.findall(name))] * 2, *objects]
    out += [_stem(w) for w in re.findall(r"[a-z0-9.]+", description.lower()) if w not in _STOP]
    return out


@dataclass(frozen=True)
class _Index:
    patterns: list[str]
    bm25: BM25Okapi


# Objects of TR-181 that are not the gateway's own (a controller's view of a mesh, devices behind a
# proxy, other home networks' technologies): never what a support question about this box reads.
_ELSEWHERE = re.compile(r"\.(DataElements|MultiAP|ProxierInfo|ManageableDevice|VirtualDevice|EmbeddedDevice|"
                        r"SoftwareModules|FAP|XMPP|Thread|ZigBee|Ghn|HomePlug|MoCA|UPA|Services|LocalAgent|"
                        r"SmartCard\w*|SelfTestDiagnostics|Security\.Certificate)\.")


@cache
def _index() -> _Index:
    """Every current TR-181 parameter the standard describes (the brain reads every device in TR-181
    form; a TR-098 device's reads are translated), minus objects that are not the gateway's own."""
    text = descriptions("Device.")
    pats = [p for p in sorted(text) if not _ELSEWHERE.search(p)]
    return _Index(pats, BM25Okapi([_doc(p, text[p]) for p in pats]))


def rank(question: str, k: int = 8) -> list[tuple[str, float]]:
    """The parameter patterns ``question`` is most about, best first (score > 0)."""
    q = words(question)
    if not q:
        return []
    idx = _index()
    scores = idx.bm25.get_scores(q)
    weighted = [(p, float(s) * (1.0 if p.startswith(_GATEWAY) else 0.6)) for p, s in zip(idx.patterns, scores,
                                                                                           strict=True) if s > 0]
    weighted.sort(key=lambda x: -x[1])
    return weighted[:k]


# ---------------------------------------------------------------------------- reading what was found
Read = Callable[[str], dict[str, Any]]


@dataclass
class Found:
    """A parameter the question is about, as read: its concrete path, value and the standard's words."""

    path: str
    value: Any
    about: str


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(r"\{i\}", r"(\d+)") + "$")


def _object_root(pattern: str) -> str:
    """The object to read for ``pattern``: its first multi-instance table, or its own object."""
    head = pattern.split("{i}", 1)[0]
    return head if "{i}" in pattern else pattern.rsplit(".", 1)[0] + "."


def find(question: str, read: Read, band_of: Callable[[str, dict[str, Any]], str | None],
         role_of: Callable[[str, dict[str, Any]], str | None] | None = None) -> list[Found]:
    """The best-ranked parameters the device has, read live: object by object (at most ``_READS``
    reads), narrowed to the band, role and side the question names; [] when none of them is there."""
    ranked = rank(question)
    if not ranked:
        return []
    bands = targets.bands_in(targets.normalise_bands(question))
    role = targets.role_in(question)
    side = "wan" if _WAN.search(question) else "lan" if _LAN.search(question) else None
    best = ranked[0][1]
    tried: list[str] = []
    for pattern, score in ranked:
        if score < best * 0.5:
            break
        root = _object_root(pattern)
        if root in tried:
            continue
        if len(tried) >= _READS:
            break
        tried.append(root)
        values = read(root)
        hits = _instances(pattern, values, bands, role, side, band_of, role_of)
        if hits:
            about = descriptions("Device.").get(pattern, "")
            found = [Found(p, values[p], about) for p in hits[:4]]
            return found + _siblings(pattern, score, ranked, values, bands, role, side, band_of, role_of)
    return []


def _siblings(pattern: str, score: float, ranked: list[tuple[str, float]], values: dict[str, Any],
              bands: Sequence[str], role: str | None, side: str | None,
              band_of: Callable[[str, dict[str, Any]], str | None],
              role_of: Callable[[str, dict[str, Any]], str | None] | None) -> list[Found]:
    """Parameters of the same object ranked nearly as high ("the DHCP range": its MinAddress beside its
    MaxAddress), already read with it."""
    root = _object_root(pattern)
    out: list[Found] = []
    for other, s in ranked:
        if other == pattern or s < score * 0.85 or _object_root(other) != root:
            continue
        about = descriptions("Device.").get(other, "")
        out += [Found(p, values[p], about) for p in _instances(other, values, bands, role, side, band_of,
                                                               role_of)[:2]]
    return out[:2]


def _instances(pattern: str, values: dict[str, Any], bands: Sequence[str], role: str | None, side: str | None,
               band_of: Callable[[str, dict[str, Any]], str | None],
               role_of: Callable[[str, dict[str, Any]], str | None] | None) -> list[str]:
    rx = _regex(pattern)
    hits = sorted((p for p in values if rx.match(p)), key=_order)
    if bands:
        narrowed = [p for p in hits if band_of(p, values) in bands]
        hits = narrowed if narrowed or not any(band_of(p, values) for p in hits) else []
    if role and role_of is not None:
        narrowed = [p for p in hits if role_of(p, values) == role]
        hits = narrowed or hits
    if side is not None and ".IP.Interface." in pattern:
        hits = [p for p in hits if _side(p, values) in (side, None)] or hits
    return hits


def _side(path: str, values: dict[str, Any]) -> str | None:
    """WAN or LAN for an IP interface's parameter: by the interface's name, else by its address
    (a private or shared address space is the LAN's; the operator's CGNAT range 100.64/10 is WAN)."""
    m = re.match(r"^(Device\.IP\.Interface\.\d+\.)", path)
    if m is None:
        return None
    name = str(_value(values.get(m.group(1) + "Name")) or "").lower()
    if "wan" in name or "lan" in name or "br-" in name:
        return "wan" if "wan" in name else "lan"
    for p, item in values.items():
        if p.startswith(m.group(1)) and p.endswith(".IPAddress"):
            try:
                ip = ipaddress.ip_address(str(_value(item)))
            except ValueError:
                continue
            return "lan" if ip.is_private and ip not in ipaddress.ip_network("100.64.0.0/10") else "wan"
    return None


def _value(item: Any) -> Any:
    return item.get("value") if isinstance(item, dict) else item


def _order(path: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\.(\d+)(?=\.)", path))


def known(patterns: Iterable[str]) -> list[str]:
    """The leaf names of ``patterns`` (for saying what was looked for)."""
    return [p.rsplit(".", 1)[-1] for p in patterns]
