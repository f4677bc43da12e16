"""What the agent excludes is read as excluded — whatever stands between the connector and the band or network.

A review found that "except" / "sauf" / "excepto" / "außer" followed by an article and a noun ("the band",
"la bande", "la red de", "das Netz für") before the band or the guest network was read as the opposite: the
request was *limited to* the band, or *aimed at* the guest network, it excluded — and ``brain.qualify`` then
accepted exactly the write the agent had ruled out. German "außer auf dem 2,4-GHz-Band" was taken for a
condition on the firmware. These are the forms of that class, written for these tests (EN/DE/FR/ES: other
verbs, articles, nouns, prepositions and connectors); each must come out with the band or network among the
exclusions, the request not limited to it, the action still read, and nothing left unplaced. Beside them, the
forms that must stay what they are: a band asked for, a condition ("außer wenn …", "sauf si …"), a "leave …
alone". The clock is fixed; nothing here needs a service.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from brain.understanding.offline import Context, understand
from brain.understanding.request import Request

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 26, 14, 20, tzinfo=UTC)
_GUEST = re.compile(r"guest|gast|gäste|invit|visit|besuch", re.I)


def read(text: str) -> Request:
    return understand(text, Context(now=NOW, zone=BERLIN)).request


# ---------------------------------------------------------------------------- a band excluded
# (text, the action read, the band excluded)
BAND_EXCLUDED = {
    "en": [
        ("set the width to 40 MHz except on the 2.4 GHz band", "width", "2.4GHz"),
        ("lower the transmit power to 50% except for the 6 GHz band", "power", "6GHz"),
        ("put the width at 20 MHz but not on the 5 GHz radio", "width", "5GHz"),
        ("switch to channel 36 excluding the 2.4 GHz band", "channel", "2.4GHz"),
        ("change the transmit power to 75% apart from the band 5 GHz", "power", "5GHz"),
        ("set the channel to 44 other than the 2.4GHz band", "channel", "2.4GHz"),
    ],
    "de": [
        ("stell den Kanal auf 44, außer auf dem 2,4-GHz-Band", "channel", "2.4GHz"),
        ("Kanalbreite auf 40 MHz einstellen, ausgenommen das 2,4-GHz-Band", "width", "2.4GHz"),
        ("setz die Sendeleistung auf 50 %, außer beim 5-GHz-Band", "power", "5GHz"),
        ("ändere die Kanalbreite auf 20 MHz, aber nicht das Band 5 GHz", "width", "5GHz"),
        ("stell Kanal 36 ein, bis auf das 2,4-GHz-Netz", "channel", "2.4GHz"),
        ("Sendeleistung auf 60 % runter, außer der 6-GHz-Frequenz", "power", "6GHz"),
    ],
    "fr": [
        ("règle la largeur sur 40 MHz sauf sur la bande 2,4 GHz", "width", "2.4GHz"),
        ("change le canal pour le 36, excepté la bande des 2,4 GHz", "channel", "2.4GHz"),
        ("baisse la puissance à 50 % hormis la bande 5 GHz", "power", "5GHz"),
        ("mets la largeur à 20 MHz, à part la bande de 5 GHz", "width", "5GHz"),
        ("bascule sur le canal 40 mais pas la bande 2,4 GHz", "channel", "2.4GHz"),
        ("passe la puissance à 75 % sauf le 6 GHz", "power", "6GHz"),
    ],
    "es": [
        ("cambia el ancho a 40 MHz excepto en la banda de 2,4 GHz", "width", "2.4GHz"),
        ("pon la potencia al 50 % salvo la banda de 5 GHz", "power", "5GHz"),
        ("pasa al canal 36 menos la banda de 2,4 GHz", "channel", "2.4GHz"),
        ("cambia el canal al 40 pero no la banda de 2,4 GHz", "channel", "2.4GHz"),
        ("baja la potencia al 60 % a excepción de la banda de 6 GHz", "power", "6GHz"),
        ("pon el ancho de canal en 20 MHz excepto el 5 GHz", "width", "5GHz"),
    ],
}


@pytest.mark.parametrize(("text", "action", "band"),
                         [pytest.param(*c, id=f"{lang}-{i}") for lang, cs in BAND_EXCLUDED.items()
                          for i, c in enumerate(cs)])
def test_a_band_after_an_exclusion_and_its_article_or_noun_is_excluded(text: str, action: str, band: str) -> None:
    """"Except the 2.4 GHz band", "sauf la bande 2,4 GHz", "excepto la banda de 2,4 GHz": the band is excluded,
    never the band the request is limited to."""
    r = read(text)
    assert r.action == action and r.act == "change", r
    assert band not in r.target.bands, r
    assert any(band in x for x in r.exclusions), r.exclusions
    assert not r.unplaced and not r.conditions, r


# ---------------------------------------------------------------------------- the guest network excluded
GUEST_EXCLUDED = {
    "en": [
        "rename the wifi to Garten except for the guest network",
        "call the network Garten, apart from the network for guests",
        "change the wifi name to Garten but not the guest one",
        "rename the wifi to Garten excluding the visitor network",
        "rename the wifi to Garten, leave the guest wifi",
        "rename the wifi to Garten but please not the network for guests",
        "rename the wifi to Garten without the network for guests",
    ],
    "de": [
        "benenne das WLAN in Garten um, außer das Gästenetz",
        "nenn das WLAN Garten, ausgenommen das Netz für Gäste",
        "ändere den WLAN-Namen auf Garten, aber nicht das Gast-WLAN",
        "benenne das Netz in Garten um, außer dem Gästenetz",
        "benenne das WLAN in Garten um, bis auf den Gastzugang",
        "benenne das WLAN in Garten um, aber nicht das Netz für Gäste",
        "nicht das Netz für Gäste, nur das WLAN in Garten umbenennen",
    ],
    "fr": [
        "renomme le wifi en Garten excepté le réseau invités",
        "change le nom du wifi en Garten à part le wifi des invités",
        "renomme le réseau en Garten, hormis le réseau pour les invités",
        "renomme le wifi en Garten mais laisse le wifi des invités",
        "renomme le wifi en Garten, sauf les réseaux invités",
        "renomme le wifi en Garten, mais pas le réseau des invités",
        "pas le réseau des invités, renomme le wifi en Garten",
    ],
    "es": [
        "cambia el nombre del wifi a Garten excepto la red de invitados",
        "renombra la red a Garten, salvo el wifi de invitados",
        "cambia el nombre de la red a Garten menos la red para invitados",
        "cambia el nombre del wifi a Garten pero deja la red de invitados",
        "renombra el wifi a Garten, salvo las redes de los invitados",
        "cambia el nombre del wifi a Garten, pero no la red de invitados",
    ],
}


@pytest.mark.parametrize("text", [pytest.param(t, id=f"{lang}-{i}") for lang, ts in GUEST_EXCLUDED.items()
                                  for i, t in enumerate(ts)])
def test_the_guest_network_after_an_exclusion_and_its_article_or_noun_is_excluded(text: str) -> None:
    """"Sauf le réseau invités", "excepto la red de invitados", "außer dem Gästenetz": the guest network is what
    the rename must leave alone, never the network it is aimed at."""
    r = read(text)
    assert r.action == "ssid" and r.act == "change", r
    assert r.target.ssid_role != "guest", r
    assert any(_GUEST.search(x) for x in r.exclusions), r.exclusions
    assert not r.unplaced and not r.conditions, r


# A band excluded from a rename: the band's networks are what it must leave alone.
RENAME_BUT_NOT_A_BAND = [
    pytest.param("rename the guest wifi to Garten except for the 2.4 GHz band", "2.4GHz", id="en"),
    pytest.param("benenne das Gast-WLAN in Garten um, aber nicht im 5-GHz-Band", "5GHz", id="de"),
    pytest.param("renomme le wifi invités en Garten sauf sur la bande 2,4 GHz", "2.4GHz", id="fr"),
    pytest.param("cambia el nombre de la red de invitados a Garten salvo en la banda de 5 GHz", "5GHz", id="es"),
]


@pytest.mark.parametrize(("text", "band"), RENAME_BUT_NOT_A_BAND)
def test_a_band_excluded_from_a_guest_rename_stays_excluded(text: str, band: str) -> None:
    """The guest network asked for, one band excluded: the role is kept and the band excluded, not asked."""
    r = read(text)
    assert (r.action, r.target.ssid_role) == ("ssid", "guest"), r
    assert band not in r.target.bands and any(band in x for x in r.exclusions), r
    assert not r.unplaced, r


# ---------------------------------------------------------------------------- what stays what it is
@pytest.mark.parametrize(("text", "band"), [
    pytest.param("set the channel to 44 on the 5 GHz band", "5GHz", id="en"),
    pytest.param("stell den Kanal im 2,4-GHz-Band auf 6", "2.4GHz", id="de"),
    pytest.param("mets le canal 6 sur la bande 2,4 GHz", "2.4GHz", id="fr"),
    pytest.param("pon el canal 44 en la banda de 5 GHz", "5GHz", id="es"),
])
def test_a_band_asked_for_with_its_article_and_noun_is_still_the_band_asked(text: str, band: str) -> None:
    """No exclusion connector: "la bande 2,4 GHz" is where the change goes."""
    r = read(text)
    assert r.action == "channel" and r.target.bands == [band] and not r.exclusions, r


@pytest.mark.parametrize("text", [
    pytest.param("set channel 6 unless the guest network is off", id="en"),
    pytest.param("stell Kanal 6 ein, außer wenn das Gastnetz aus ist", id="de"),
    pytest.param("stell Kanal 6 ein, außer das Gastnetz ist aus", id="de-bare"),
    pytest.param("mets le canal 6 sauf si le réseau invités est coupé", id="fr"),
    pytest.param("pon el canal 6 salvo que la red de invitados esté apagada", id="es"),
])
def test_a_condition_introduced_by_an_exclusion_word_stays_a_condition(text: str) -> None:
    """"Außer wenn", "sauf si", "salvo que", "unless": a condition on the guest network, not an exclusion of it."""
    r = read(text)
    assert r.action == "channel" and not r.exclusions, r
    assert [c.fact for c in r.conditions] == ["ssid_enabled"], r


@pytest.mark.parametrize(("text", "band"), [
    pytest.param("set the channel to 44 and leave the 2.4 GHz band alone", "2.4GHz", id="en"),
    pytest.param("Kanal 44, aber lass das 2,4-GHz-Band in Ruhe", "2.4GHz", id="de"),
    pytest.param("mets le canal 44 et laisse la bande 2,4 GHz tranquille", "2.4GHz", id="fr"),
    pytest.param("pon el canal 44 y deja la banda de 2,4 GHz en paz", "2.4GHz", id="es"),
])
def test_a_band_left_alone_with_its_noun_is_excluded(text: str, band: str) -> None:
    """The form that worked before ("laisse le 2,4 GHz tranquille") still works with the noun in it."""
    r = read(text)
    assert r.action == "channel" and band not in r.target.bands and any(band in x for x in r.exclusions), r
    assert not r.unplaced, r


@pytest.mark.parametrize(("text", "band", "role"), [
    pytest.param("the laptop does not connect on the 5 GHz band", "5GHz", None, id="en"),
    pytest.param("das Handy verbindet sich nicht im 5-GHz-Band", "5GHz", None, id="de"),
    pytest.param("le wifi ne marche pas sur la bande 5 GHz", "5GHz", None, id="fr"),
    pytest.param("je ne trouve pas le réseau invités", None, "guest", id="fr-guest"),
    pytest.param("la tele no conecta en la banda de 5 GHz", "5GHz", None, id="es"),
])
def test_a_negation_after_its_verb_describes_and_excludes_nothing(text: str, band: str | None,
                                                                   role: str | None) -> None:
    """"Ne marche pas sur la bande 5 GHz" is a symptom on that band, not the band left out: a negation excludes
    through a preposition or a noun only at the head of its phrase ("…, mais pas la bande 5 GHz")."""
    r = read(text)
    assert not r.exclusions and r.target.bands == ([band] if band else []) and r.target.ssid_role == role, r
