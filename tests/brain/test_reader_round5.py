"""Reader round five (issue 57): what fresh phrasings and probes showed the reader getting wrong. Each case below
was seen failing before its fix (evals/conversation/reader5_tuning.yaml holds the phrasings the judged harness
runs; these are this file's own)."""

from __future__ import annotations

import pytest

from brain.understanding import clauses
from tests.brain.test_nothing_dropped import BERLIN, NOW, read


def _local_hour(text: str) -> tuple[int, int] | None:
    s = read(text).request.schedule
    if s is None or s.not_before is None:
        return None
    at = s.not_before.astimezone(BERLIN)
    return (at.date() - NOW.astimezone(BERLIN).date()).days, at.hour


# ---------------------------------------------------------------------------- a part of the day ruled out
@pytest.mark.parametrize("text", [
    "move the 5 GHz to channel 44, not this afternoon, tomorrow at 9",
    "mueve el 5 GHz al canal 44, esta tarde no, mañana a las 9",
    "stell den 5er auf Kanal 44, heute Nachmittag nicht, lieber morgen um 9",
    "passe la 5 GHz sur le canal 44, pas cet après-midi, plutôt demain à 9h",
    "set the 5 GHz to channel 44 tomorrow at 9 — this evening is no good",
])
def test_a_part_of_the_day_ruled_out_is_no_part_of_the_time_asked(text: str) -> None:
    """It made "tomorrow at 9" 21:00 (the ruled-out afternoon's hour) with a window into the next day."""
    assert _local_hour(text) == (1, 9)


@pytest.mark.parametrize(("text", "hour"), [
    ("move the 5 GHz to channel 44 this evening, not this afternoon", 19),
    ("stell den 5er auf Kanal 44, heute Abend nicht vor 21:30", 21),
])
def test_a_part_of_the_day_kept_still_places_the_time(text: str, hour: int) -> None:
    assert _local_hour(text) == (0, hour)


# ---------------------------------------------------------------------------- "nicht vor 20 Uhr" is no "ago"
@pytest.mark.parametrize("text", ["stell den 5er auf Kanal 44, nicht vor 20 Uhr",
                                  "stell den 5er auf Kanal 44, frühestens um 20 Uhr"])
def test_not_before_in_german_is_a_schedule_not_a_repeating_one(text: str) -> None:
    r = read(text).request
    assert not r.unplaced
    assert _local_hour(text) == (0, 20)


def test_ago_in_german_is_still_when_a_symptom_began() -> None:
    r = read("Der 5er hängt seit vor 2 Stunden, stell ihn auf Kanal 44").request
    assert r.schedule is None and r.values == {"value": 44}


# ---------------------------------------------------------------------------- off now, back on later
@pytest.mark.parametrize(("text", "action", "said"), [
    ("turn off the 5 GHz and put it back on tomorrow morning", "band_enable", "tomorrow morning"),
    ("schalte das 2,4er aus und morgen früh wieder an", "band_enable", "morgen früh"),
    ("turn off the guest wifi now and turn it back on tomorrow at 8", "ssid_enable", "tomorrow at 8"),
    ("Gäste-WLAN ausschalten und morgen um 8 wieder einschalten", "ssid_enable", "morgen um 8"),
    ("apaga la red de invitados y vuelve a encenderla mañana a las 8", "ssid_enable", "mañana a las 8"),
    ("coupe la 5 GHz et rallume-la demain à 8h", "band_enable", "demain à 8h"),
])
def test_a_switch_off_undone_later_is_off_now_and_the_switch_on_deferred_with_its_time(
        text: str, action: str, said: str) -> None:
    """The time was the switch-off's: the radio went off tomorrow morning and never came back on (or the switch-on
    was drafted and the switch-off lost)."""
    u = read(text)
    r = u.request
    assert (r.action, r.values.get("value"), r.schedule, r.unplaced) == (action, False, None, [])
    assert u.heard is not None and len(u.heard.deferred) == 1
    deferred = u.heard.deferred[0]
    assert "(on" in deferred and said in deferred


@pytest.mark.parametrize(("text", "hour", "said"), [
    ("turn off the 5 GHz at 23:00 and turn it back on tomorrow at 8", 23, "tomorrow at 8"),
    ("mach das Gäste-WLAN heute um 22 Uhr aus und morgen um 7 wieder an", 22, "morgen um 7"),
    ("éteins le wifi invité ce soir à 22h et rallume-le demain à 7h", 22, "demain à 7h"),
    ("apaga el 5 GHz esta noche a las 23 y vuelve a encenderlo mañana a las 7", 23, "mañana a las 7"),
])
def test_each_of_two_times_stays_with_its_own_clause(text: str, hour: int, said: str) -> None:
    """"… tonight at 10 and back on tomorrow at 7" read as one time, the switch-off at tomorrow's 22:00."""
    u = read(text)
    assert u.request.values.get("value") is False
    assert _local_hour(text) == (0, hour)
    assert u.heard is not None and said in u.heard.deferred[0]


def test_off_and_on_without_a_time_is_off_and_the_on_deferred() -> None:
    """"turn the 5 GHz off and back on" drafted the switch-on alone (the radio already on: nothing done)."""
    for text in ("turn the 5 GHz off and back on", "schalte das 2,4er aus und wieder an"):
        u = read(text)
        assert u.request.values == {"value": False}
        assert u.heard is not None and u.heard.deferred and "(on" in u.heard.deferred[0]


def test_the_gateway_off_and_on_again_is_still_a_reboot() -> None:
    assert read("turn the router off and on again").request.action == "reboot"
    assert read("mach die Box einmal aus und wieder an").request.action == "reboot"


def test_a_switch_on_alone_later_is_scheduled_as_before() -> None:
    r = read("turn the 5 GHz back on tomorrow at 8").request
    assert (r.action, r.values.get("value")) == ("band_enable", True)
    assert _local_hour("turn the 5 GHz back on tomorrow at 8") == (1, 8)


def test_a_deferred_switch_reads_on_or_off() -> None:
    """"a band on/off (True on 5GHz)" was what the agent read."""
    assert clauses.heard("turn the 2.4GHz radio off and put the 5GHz on 44").deferred
    label = clauses.heard("turn off the 5GHz and turn it back on").deferred[0]
    assert label == "a band on/off (on, 5GHz)"


# ---------------------------------------------------------------------------- round five's fresh set: what it showed
@pytest.mark.parametrize(("text", "value"), [
    ("put the 5 GHz on 36, sorry, 40, the neighbour sits on 36", 40),
    ("stell den 5er auf 36, nee Moment, 44, weil der Nachbar auf 36 ist", 44),
])
def test_a_correction_followed_by_its_reason_is_still_the_value(text: str, value: int) -> None:
    """"… le 36... ah non pardon, le 40, le 36 c'est celui du voisin" drafted 36: the reason after the corrected
    value hid the correction."""
    r = read(text).request
    assert (r.action, r.values.get("value")) == ("channel", value)


@pytest.mark.parametrize("text", [
    "redémarre la box quand il aura fini sa réunion",
    "reinicia el router cuando la clienta acabe la videollamada",
])
def test_a_time_an_event_sets_is_asked_about_in_french_and_spanish(text: str) -> None:
    """"redémarre-la quand le client aura fini sa journée" drafted a reboot at once."""
    r = read(text).request
    assert r.schedule is None and any(u.kind == "time" for u in r.unplaced)


@pytest.mark.parametrize(("text", "topic"), [
    ("the customer needs the WAN IP, can you look it up?", "lookup"),
    ("sie fragt nach der MAC-Adresse vom 2,4er, kannst du die mal nachgucken?", "lookup"),
    ("el técnico quiere el número de serie, ¿me lo pasas?", "lookup"),
    ("his son keeps plugging in consoles, can you list what's connected right now", "hosts"),
])
def test_a_read_asked_as_a_favour_is_a_question_about_the_fact_named_before(text: str, topic: str) -> None:
    """"… tu peux me la donner ?", "kannst du die mal nachgucken?" were requests nothing places (asked about)."""
    r = read(text).request
    assert r.act == "question" and r.action is None and topic in r.topics


@pytest.mark.parametrize(("text", "ssid"), [
    ("please rename the 2.4 wifi to Garden_Net_2G", "Garden_Net_2G"),
    ("she wants her wifi renamed to Villa_Rosa, thanks", "Villa_Rosa"),
    ("renomme le réseau principal en ChezMarie stp", "ChezMarie"),
    ("cámbiale el nombre de la red principal a PisoCentro", "PisoCentro"),
])
def test_an_unquoted_one_word_name_after_rename_to_is_the_name(text: str, ssid: str) -> None:
    """Asked for quotes around a name already given; "_5G" inside a name was read as a band ("…_5GHz")."""
    r = read(text).request
    assert (r.action, r.values.get("ssid")) == ("ssid", ssid)


def test_a_second_request_after_a_filler_is_a_request_of_its_own() -> None:
    """"apaga la red de invitados y de paso cambia el nombre …" was one clause: the rename read alone."""
    for text in ("apaga la red de invitados y de paso cambia el nombre de la wifi principal a Luna",
                 "turn off the guest wifi and while you're at it rename the main wifi to Luna",
                 "apaga la red de invitados y cambia el nombre de la wifi principal a Luna"):
        u = read(text)
        assert (u.request.action, u.request.values.get("value")) == ("ssid_enable", False)
        assert u.heard is not None and u.heard.deferred == ["the rename of the Wi-Fi network"]


@pytest.mark.parametrize(("text", "action", "value"), [
    ("starte den Router bitte mal durch", "reboot", None),
    ("pon la de 5 GHz al máximo, el cliente trabaja en el jardín", "power", 100),
    ("dreh den 2,4er auf max, der Kunde sitzt im Garten", "power", 100),
])
def test_plain_requests_in_their_everyday_words(text: str, action: str, value: int | None) -> None:
    r = read(text).request
    assert (r.action, r.values.get("value"), r.unplaced) == (action, value, [])


@pytest.mark.parametrize("text", [
    "baja la potencia de la 5 a la mitad, que se cuela en el piso de al lado",
    "passe l'intervalle d'inform à 600 secondes, on veut qu'elle remonte plus vite",
])
def test_the_reason_beside_a_change_is_context_not_a_request(text: str) -> None:
    r = read(text).request
    assert r.action is not None and r.unplaced == []


def test_a_wish_for_something_else_beside_a_change_is_still_asked_about() -> None:
    r = read("passe l'intervalle d'inform à 900 secondes et on veut qu'il débloque son Netflix").request
    assert any("Netflix" in u.words for u in r.unplaced)


# ---------------------------------------------------------------------------- answers from the data model
_BOX = {
    "Device.DHCPv4.Server.Pool.1.MinAddress": "192.168.1.100",
    "Device.DHCPv4.Server.Pool.1.MaxAddress": "192.168.1.249",
    "Device.DHCPv4.Server.Pool.1.LeaseTime": 86400,
    "Device.IP.Interface.1.Name": "wan",
    "Device.IP.Interface.1.IPv4Address.1.IPAddress": "100.121.145.14",
    "Device.IP.Interface.2.Name": "br-lan",
    "Device.IP.Interface.2.IPv4Address.1.IPAddress": "192.168.1.1",
}


def _found(question: str) -> dict[str, object]:
    from brain import lookup

    def read(root: str) -> dict[str, object]:
        return {p: v for p, v in _BOX.items() if p.startswith(root)}

    return {f.path: f.value for f in lookup.find(question, read, lambda p, v: None)}


@pytest.mark.parametrize("question", ["welcher DHCP-Bereich ist eingestellt?", "what's the DHCP range?",
                                      "quelle est la plage DHCP ?"])
def test_a_range_is_answered_with_both_ends(question: str) -> None:
    """Only the pool's MaxAddress was said; "DHCP-Bereich" found nothing."""
    found = _found(question)
    assert found.get("Device.DHCPv4.Server.Pool.1.MinAddress") == "192.168.1.100"
    assert found.get("Device.DHCPv4.Server.Pool.1.MaxAddress") == "192.168.1.249"


@pytest.mark.parametrize(("question", "address"), [
    ("c quoi l'IP locale du routeur ?", "192.168.1.1"),
    ("what's the router's local IP?", "192.168.1.1"),
    ("which public IP does it have?", "100.121.145.14"),
])
def test_an_ip_is_the_side_asked(question: str, address: str) -> None:
    assert list(_found(question).values()) == [address]


# ---------------------------------------------------------------------------- the rest of round five's tuning split
def test_a_rename_wished_in_the_perfect_is_a_rename() -> None:
    r = read('die Kundin möchte ihr WLAN umbenannt haben: "Haus am See"').request
    assert (r.action, r.values.get("ssid")) == ("ssid", "Haus am See")
    assert read("das WLAN wurde gestern umbenannt und seitdem geht nichts").request.action is None


def test_a_german_statement_without_its_subject_after_a_question_is_no_question() -> None:
    """"… abschalten? hat eh kein Gerät, das das kann" was looked up in the data model."""
    u = clauses.understand("kannst du das 2,4er abschalten? hat eh keiner ein altes Handy")
    assert [c.act for c in u.clauses][1:] == ["statement"]
    assert [c.act for c in clauses.understand("hat der Router ein Update bekommen").clauses] == ["question"]


def test_every_band_but_one_sets_each_of_the_others() -> None:
    from brain import explicit
    from tests.brain.test_nothing_dropped_mutants import draft, home

    r = read("set every band to 40 MHz except the 2.4").request
    asked = explicit.from_request(r)
    assert asked is not None and asked.excluded == ["2.4GHz"] and asked.band is None
    plan = draft(home(), asked)  # a dual-band box: the one band left
    assert plan.draft is not None
    assert [(c.path, c.value) for c in plan.draft.changes] == [("Device.WiFi.Radio.2.OperatingChannelBandwidth",
                                                                "40MHz")]
    both = draft(home("tri"), asked)  # three bands (Radio.1 5 GHz, .2 2.4 GHz, .3 6 GHz): each but the one excluded
    assert both.draft is not None
    assert sorted((c.path, c.value) for c in both.draft.changes) == [
        ("Device.WiFi.Radio.1.OperatingChannelBandwidth", "40MHz"), ("Device.WiFi.Radio.3.OperatingChannelBandwidth",
                                                                     "40MHz")]
    assert both.measure is not None  # its effect is measured as a one-radio change's is
    # with nothing left out there is no "every band but": the band is asked, never guessed
    plain = explicit.from_request(read("set the width to 40 MHz").request)
    assert plain is not None and plain.band is None and not plain.excluded
    assert draft(home("tri"), plain).text == "Which band should the width change apply to: 5 GHz, 2.4 GHz or 6 GHz?"


def test_the_known_messages_the_round_first_read_differently() -> None:
    """Two known messages the round's first versions read worse (found by reading every known message before and
    after): "nombre a la wifi …, que se llame X" lost X to "la", and a German question without "?" before another
    question became a statement."""
    r = read("cámbiale el nombre a la wifi de invitados, que se llame Visitas-Ortega").request
    assert r.values.get("ssid") == "Visitas-Ortega"
    assert read("ist das Gäste-WLAN bei dem überhaupt aktiv und wie heißt das?").request.act == "question"


# ---------------------------------------------------------------------------- a switch, then another band's value
@pytest.mark.parametrize(("text", "value", "deferred"), [
    ("turn the 5 GHz off and the 2.4 to channel 11", False, "(11 on 2.4GHz)"),
    ("mach das 2,4er aus und das 5er auf Kanal 36", False, "(36 on 5GHz)"),
    ("schalt den 6er ab und den 5er auf Kanal 44, sonst gibt es Ärger", False, "(44 on 5GHz)"),
    ("turn the 2.4 on and the 5 to 44", True, "(44 on 5GHz)"),
])
def test_a_switch_then_another_bands_value_is_two_requests(text: str, value: bool, deferred: str) -> None:
    """The switch was dropped and the read-back named both bands for the other's channel (a held-out phrasing of
    round five showed the class; these are this file's own)."""
    u = read(text)
    assert (u.request.action, u.request.values.get("value")) == ("band_enable", value)
    assert u.heard is not None and len(u.heard.deferred) == 1 and deferred in u.heard.deferred[0]


def test_two_bands_for_one_value_stay_one_request() -> None:
    r = read("set the 2.4 and the 5 to channel 6").request
    assert (r.action, r.values.get("value")) == ("channel", 6)


# ---------------------------------------------------------------------------- classes the first held-out split showed
# (fixed on this file's own phrasings; reader5_heldout.yaml is reported as read, reader5_fresh.yaml is the split
# written after it and never tuned on)
@pytest.mark.parametrize(("text", "topic"), [
    ("the customer needs his wan ip for the office firewall, what is it", "lookup"),
    ("sie braucht die Seriennummer, kannst du mal schauen?", "lookup"),
    ("el cliente quiere su IP pública, ¿puedes mirarlo?", "lookup"),
    ("tu peux me lister les appareils connectés ?", "hosts"),
])
def test_a_read_asked_with_the_fact_named_before_or_as_a_list(text: str, topic: str) -> None:
    r = read(text).request
    assert r.act == "question" and topic in r.topics and r.unplaced == []


@pytest.mark.parametrize("text", ["et pour la 6 GHz alors ?", "und für das 5er?", "¿y para la de 5?"])
def test_a_follow_up_naming_only_a_band_carries_the_topic(text: str) -> None:
    assert clauses.understand(targets_normalised(text)).topics == ["again"]


def targets_normalised(text: str) -> str:
    from brain.understanding import targets

    return targets.normalise_bands(text)


@pytest.mark.parametrize(("question", "leaf"), [
    ("what hardware revision is this modem?", "HardwareVersion"),
    ("c'est quoi la plage DHCP de ce modem ?", "MinAddress"),
    ("which wifi mode is the 5 on", "OperatingStandards"),
])
def test_the_words_that_named_the_wrong_parameter(question: str, leaf: str) -> None:
    """"modem" was read as "mode" (the radio's 802.11 standards), "hardware revision" as the standards too."""
    from brain import lookup

    assert any(p.endswith("." + leaf) for p, _ in lookup.rank(question)[:2])


def test_a_spanish_question_about_how_often_it_informs_is_not_about_its_clients() -> None:
    u = clauses.understand("¿cada cuánto informa al ACS el equipo?")
    assert "hosts" not in u.topics
    assert "hosts" in clauses.understand("¿cuántos equipos hay conectados?").topics


@pytest.mark.parametrize("text", [
    "set his DNS to 1.1.1.1 and 8.8.8.8, can you put them in?",
    "stell die DNS auf 1.1.1.1 und 8.8.8.8, kannst du die eintragen?",
    "mets les DNS 1.1.1.1 et 8.8.8.8, tu peux les appliquer ?",
])
def test_the_operation_asked_for_again_by_a_pronoun_is_no_other_request(text: str) -> None:
    r = read(text).request
    assert r.action == "dns" and r.servers == ["1.1.1.1", "8.8.8.8"] and r.unplaced == []
    other = read("set DNS to 1.1.1.1 and 8.8.8.8 and put the printer on a fixed address").request
    assert any("printer" in u.words for u in other.unplaced)


def test_a_name_given_with_ponle_de_nombre_is_a_rename() -> None:
    r = read('ponle de nombre "Casa Vidal" a la red de invitados, la principal déjala').request
    assert (r.action, r.values.get("ssid")) == ("ssid", "Casa Vidal")


# ---------------------------------------------------------------------------- classes the fresh split showed
# (reader5_fresh.yaml was run once and read; these are this file's own phrasings)
@pytest.mark.parametrize(("text", "value"), [
    ("pon la de 5 en el 36, perdón, en el 44", 44),
    ("mets la 2,4 sur le canal 1, non pardon, sur le 11", 11),
    ("stell den 2,4er auf Kanal 1, nein sorry, auf 11", 11),
])
def test_a_correction_with_its_preposition_and_article_is_the_value(text: str, value: int) -> None:
    """"… en el canal 1... no, perdona, en el 11" wrote 1: "en el" before the corrected value hid the correction."""
    assert read(text).request.values.get("value") == value


def test_a_band_named_beside_a_correction_is_not_the_corrected_value() -> None:
    r = read("no, la 5 quería decir, en el 36").request
    assert r.values.get("value") != 5


@pytest.mark.parametrize("text", [
    "éteins la 6 GHz, il ne veut pas qu'elle émette pour rien",
    "set channel 6, he wants to stream in the garden",
    "kannst du mir die IP vom Drucker sagen? der will die im Laptop eintragen",
    "dime la IP pública, el cliente quiere entrar desde fuera",
    "tu peux me donner l'IP publique ? le client veut se connecter à sa caméra",
])
def test_what_the_customer_wants_to_do_themselves_is_context(text: str) -> None:
    r = read(text).request
    assert r.unplaced == [] and (r.action is not None or r.act == "question")


@pytest.mark.parametrize("text", ["set channel 6, he wants his Netflix unblocked",
                                  "passe le canal 6 et on veut qu'il débloque son Netflix"])
def test_what_the_customer_wants_done_beside_it_is_still_asked_about(text: str) -> None:
    assert any("Netflix" in u.words for u in read(text).request.unplaced)


@pytest.mark.parametrize("text", ["brauch mal die IP-Adresse vom Drucker", "I need his WAN IP quickly",
                                  "necesito la IP del router"])
def test_a_fact_needed_is_a_fact_asked_for(text: str) -> None:
    assert read(text).request.act == "question"
    assert read("I need the channel changed to 6").request.action == "channel"


def test_german_mal_is_no_spanish_symptom() -> None:
    """"Brauch mal die MAC …" was a symptom to diagnose ("mal" is Spanish for badly)."""
    assert "lookup" in clauses.understand("zeig mal die MAC vom Router?").topics
    assert clauses.understand("¿la wifi va mal desde ayer?").topics == []


def test_what_the_customer_wants_changed_or_a_value_needed_is_not_context() -> None:
    """Found reading the known messages: "brauchen den DNS 9.9.9.9" for a fleet became a question, "le client veut
    ouvrir un port" a reason, and a passphrase ending in "-er" a plan of the customer's."""
    assert read("Alle AW-1200 mit der 2.1.0.88 brauchen den DNS 9.9.9.9").request.action == "dns"
    assert read("all the CGW-3400s need their DNS pointed at 1.1.1.1").request.action == "dns"
    port = read("elle a quelle IP côté WAN la box ? le client veut ouvrir un port sur son NAS").request
    assert any("port" in u.words for u in port.unplaced)


@pytest.mark.parametrize(("text", "symptom"), [
    ("the customer says the internet is down, is the router up?", True),
    ("la wifi no funciona, ¿está encendido el router?", True),
    ("customer reckons the kids keep adding gadgets to the wifi, can u list whats connected", False),
    ("Kunde braucht seine öffentliche IP, kannst du die mal nachgucken?", False),
])
def test_a_symptom_told_beside_a_question_is_still_asked_about(text: str, symptom: bool) -> None:
    """The CI-equivalent's one failure: "the internet is down, is the router up?" lost its follow-up question
    ("when does the problem happen?") with the change that drops it after a story that is no symptom."""
    assert clauses.describes_a_symptom(text) is symptom


@pytest.mark.parametrize("text", ["turn off the guest wifi and turn it back on tomorrow at 8, thanks",
                                  "schalt das Gäste-WLAN aus und morgen um 8 wieder an, danke dir"])
def test_a_switch_on_later_with_thanks_after_it_is_still_deferred(text: str) -> None:
    """Found reading the mutation survivors: with ", danke dir" after it the German switch-on was drafted for
    tomorrow at 8 and the switch-off lost (the clause "wieder an," ended in a comma)."""
    u = read(text)
    assert (u.request.values.get("value"), u.request.schedule) == (False, None)
    assert u.heard is not None and "8" in u.heard.deferred[0]
