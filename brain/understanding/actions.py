"""Explicit requests: what a support agent asks for by name, in English, German, French or Spanish.

Why a parser of its own: "set channel 11", "schalte 2,4 GHz aus", "redémarre la box" are not
symptoms to diagnose but actions to draft. The planner drafts them through the same gates as any
other change (data-model validation, the device's own supported-value lists, policy, compat,
rate limits) and never rewrites the requested value: a value the device does not support, a name
over the 32-byte limit or a band that connected hosts still use is a question naming what would
break, not a silent substitute. Requests that reach beyond this gateway ("all devices in the
building") are not parsed here: ``brain.fleetplan`` plans a building or neighbourhood jointly and
turns a fleet slice into a campaign draft.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from brain.understanding import durations, values
from brain.understanding import lexicon as concepts
from brain.understanding.lexicon import OFF_AND_ON
from core.kernel.models import Scalar

Action = Literal["channel", "width", "power", "band_enable", "dns", "inform_interval", "reboot", "ping",
                 "factory_reset", "traceroute", "speedtest", "ssid_enable", "ssid_hide",
                 "dhcp_lease"]
Band = Literal["2.4GHz", "5GHz", "6GHz"]

_I = re.IGNORECASE
_BAND = re.compile(r"\b(2[.,]4|5|6)\s*-?\s*(ghz|g)\b", _I)
# A guest network named in a request ("turn the guest wifi on", "Gäste-WLAN aus", "apaga la red de invitados")
_GUEST = re.compile(r"\b(guest\w*|gäste\w*|gast\w*|invité\w*|invitad\w*|visitor\w*|besucher\w*)\b", _I)
# The Wi-Fi as a whole, no band named: "turn off the wifi", "schalte das WLAN aus", "coupe le wifi", "apaga el wifi",
# "both bands off" — never a path ("Device.WiFi.Radio.2.Enable") nor a Wi-Fi setting ("the wifi security, password")
_WHOLE_WIFI = re.compile(
    # "every band", "alle WLANs", "tous les wifi", "todas las redes": every one of them
    r"(?<![.\w])(wi-?fis?|wlans?|wireless|funk|radios|bands|bänder|bandes|bandas|sans-fil|networks|netze|réseaux|"
    r"redes|(?<=every )band|(?<=each )band|(?<=jedes )band|(?<=chaque )bande|(?<=cada )banda)(?![.\w])"
    r"(?!\s*-?\s*(security|password|passwort|passphrase|key|schlüssel|name|netzwerkname|mot de passe|clé|sécurité|"
    r"contraseña|clave|nombre|seguridad|sicherheit|settings|einstellungen|paramètres|ajustes|code|kennwort))", _I)
# ... switched by a verb in its imperative or infinitive, before the noun ("coupe le wifi"; "le wifi coupe le soir"
# is a symptom, "WPA2 is enabled on both radios" a description) — or a German infinitive ("WLAN bitte ausschalten")
_SWITCH_VERB = re.compile(
    r"\b(turn|switch|shut|disable|enable|deactivate|activate|kill|schalte?|schaltet|mach|macht|deaktiviere?|"
    r"aktiviere?|désactive[rz]?|active[rz]?|réactive[rz]?|coupe[rz]?|éteins|éteignez|éteindre|allume[rz]?|rallume[rz]?|apaga|"
    r"reactiva|reactivar|"
    r"apague|apagar|apágalo|enciende|encienda|encender|activa|activar|desactiva|desactive|desactivar|corta|cortar)\b",
    _I)
_SWITCH_INFINITIVE = re.compile(r"\b(ausschalten|abschalten|einschalten|anschalten|deaktivieren|aktivieren|ausmachen|"
                                r"anmachen)\b", _I)


def _whole_wifi(text: str) -> bool:
    """The message switches the Wi-Fi as a whole (see ``_WHOLE_WIFI``)."""
    noun = _WHOLE_WIFI.search(text)
    if noun is None:
        return False
    verb = _SWITCH_VERB.search(text)
    return (verb is not None and verb.start() < noun.start()) or _SWITCH_INFINITIVE.search(text) is not None


# "turn/switch … on|off": the first particle after the verb, in its clause — "turn off the wifi on 5 GHz" is off
_PARTICLE = re.compile(r"\b(turn|switch|shut)\b[^?!.,;]{0,30}?\b(on|off)\b", _I)
# A radio that drops out by itself is a symptom, not "switch it off": "fällt ständig aus", "geht immer wieder aus",
# "se coupe tout le temps", "se désactive toute seule", "se apaga solo", "keeps switching off", "turns off randomly".
_OFF_SYMPTOM = re.compile(
    r"\b(fällt|fallen|fiel|fielen|geht|gehen|ging|gingen)\b[^.?!,;]{0,40}\baus\b|"
    r"\b(immer wieder|ständig|dauernd|andauernd|oft|häufig|regelmäßig|ab und zu|manchmal|von selbst)\s+aus\b|"
    r"\bse\s+(coupe\w*|coupai\w*|désactiv\w*|éteint|éteign\w*|apag\w*|cort\w*|desactiv\w*|desconect\w*)\b|"
    r"\b(keeps?|kept|keeping)\s+(turning|switching|shutting|going|cutting)\s+off\b|"
    r"\b(turns?|turned|switch(es|ed)?|shuts?|goes|went|cuts?)\s+(itself\s+)?off\s+(by itself|on its own|randomly|"
    r"all the time|every|at night|sometimes|again|now and then)\b", _I)
_BACK_ON = re.compile(r"\b(back on|wieder an|wieder ein|rallum\w*|réactiv\w*|reactiv\w*|vuelve a (encender|activar))\b",
                      _I)
_CHANNEL = re.compile(r"\b(channel|kanal|canal)\b", _I)
# a whole number: never the "2" of "2.4" nor the "4" of "44" (nothing but digits and a unit may follow it)
_NUM = re.compile(r"(?<![\d.,])(\d{1,3})(?![.,]?\d)(?![\d.,]*\s*-?\s*(ghz|g\b|mhz|%|s\b|sec|min|h\b))", _I)
_NEAR_CHANNEL, _NEAR_WIDTH = 25, 30  # how far after its words a channel's or a width's number may begin
_WIDTH = re.compile(r"\b(20|40|80|160)\s*-?\s*mhz\b", _I)
# "channel width", "Kanalbreite", "largeur de canal", "ancho de canal": a width, though a channel word is in it
# ("set the 5 GHz channel width to 40" was read as channel 40)
_WIDTH_WORD = re.compile(r"\b(?:(?:channel[ -]?)?(?:band)?width|(?:channel[ -]?)?bandwidth|kanal(?:band)?breite|"
                         r"bandbreite|largeur(?: d[eu]s?)?(?: canal)?|anch(?:o|ura)(?: del?)?(?: canal)?)\b", _I)
_WIDTH_NUM = re.compile(r"(?<![\d.,])(20|40|80|160)(?![\d.,])(?!\s*-?\s*(?:ghz|g\b|%))", _I)
# plain "power" only before "to"/"at" and a number, a band maybe between ("set the 5 GHz power to 60" and "set the
# power of the 5GHz to 50" were read as a channel; "the power went out at 10" is no request)
_POWER = re.compile(r"(transmit(ting)? power|tx[ -]?power|power(?: level)?(?=(?:\s+(?:of|on|for|in)\s+(?:the\s+)?"
                    r"(?:2\.4GHz|5GHz|6GHz)(?:\s+(?:band|radio|one))?)?\s+(?:to|at)\s+\d)|sendeleistung|"
                    r"puissance( d['’]émission)?|potencia( de transmisión)?)(?:\D|\d[.,]?\d*\s*-?\s*ghz){0,60}?"
                    r"(?P<n>(?<![\d.,])\d{1,3})(?![.,]\d)(?!\s*-?\s*(ghz|g\b))\s*"
                    r"(%|percent|prozent|pour ?cent|por ?ciento)?", _I)
# a band put "at the max" with no setting named: its transmit power
_MAX_ALONE = re.compile(r"\b(au max(imum)?|à fond|al m[áa]ximo|a tope|auf max\w*|auf volle\w*|voll aufdrehen|"
                        r"to the max|full blast|max(ed)? out)\b", _I)
# A band set to a share of its power, said without the word "power" (never "for half an hour")
# ("at a quarter past 9", "un quart d'heure", "un cuarto de hora" are times)
_TO_SHARE = re.compile(r"(?<!\bat )\b(?:to|auf|à|a|al|aux|en)\s+(?:the\s+|a\s+|die\s+|ein\s+|la\s+|un\s+|une\s+|el\s+)?"
                       r"(?:half|quarter|3 quarters|hälfte|viertel|3 ?viertel|dreiviertel|moitié|quart|3 quarts|mitad|"
                       r"cuarto|4º|3 cuartos)(?![\w'-])(?!\s+(?:an?\s+|of an?\s+|d'une?\s+|de\s+)?"
                       r"(?:hours?|stunde|heures?|horas?|minutes?|minuten|minutos?|day|tag|jour|d[ií]a))"
                       r"(?!\s+(?:past|to|after|before|nach|vor)\b)", _I)
_NOT_POWER = re.compile(r"\b(channel|canal|kanal|width|largeur|ancho|breite|speed|débit|velocidad|"
                        r"max(imum)?\s+(clients?|devices?|appareils?|geräte|dispositivos))\b", _I)
_OFF = re.compile(r"\b(turn(ed)?|switch(ed)?|shut)\b[^?!]{0,30}\boff\b|\bdisable|\bdeactivate|\bausschalten|\bkill\b|"
                  # taken out of service, said with its verb ("the 5 GHz is offline" is a symptom, no request)
                  r"\btake\b[^?!,;]{0,30}\b(offline|off the air|off air)\b|\bvom netz (zu )?nehm\w*|"
                  r"\bnimm\b[^?!,;]{0,30}\bvom netz\b|\b(mets|mettez|mettre)\b[^?!,;]{0,30}\bhors (service|ligne)\b|"
                  r"\b(pon|ponga|poner|ponlo|ponla)\b[^?!,;]{0,30}\bfuera de servicio\b|"
                  r"\b(wants?|wanted|needs?|like)\b[^?!,;]{0,30}\bgone\b|\b(soll|sollen|muss|müssen)\b[^?!,;]{0,30}\bweg\b|"
                  r"\babschalten|\bschalte?\b[^?!,;]{0,30}\bab\b|\bdeaktivier|\baus\b(?!\s+(dem|der|den|einem|einer|meinem|ihrem|seinem)\b)|\bdésactiv|\bdesactiv|\bcouper?\b|\béteindre|\béteins|\bap[aá]ga",
                  _I)
_ON = re.compile(r"\b(turn(ed)?|switch(ed)?)\b[^?!]{0,30}\bon\b|\benable|\bactivate|\beinschalten|\banschalten|"
                 r"\b(ein|an)geschaltet werden|\baktiviert werden|\bactive-(le|la)\b|\bactiva(lo|la)\b|"
                 r"\baktivier|\bwieder an\b|\bactiv(er|ez|e)\b|\brallum\w*|\ballum\w*|\bactivar|\bactiva\b|"
                 r"\bencender|\benci[eé]nd|\bschalt\w*\b[^.?!]{0,40}\bein\b|\bmach\w*\b[^.?!]{0,40}\ban\b|"
                 # "remets-le demain" (put it back): on — "remets-le sur le 11" puts it on a channel
                 r"\bremet(s|tez)-(le|la|les)\b(?![^.?!;]{0,20}\b(sur|en)\s+(le\s+|la\s+)?(canal\s+)?\d)", _I)
_IPV4 = re.compile(r"\b((25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3})\b")
_DNS = re.compile(r"\bdns\b|resolver|nameserver|serveurs? de noms|servidores? de nombres", _I)
# the inform interval — never the verb ("informiere die Kundin, wir starten um 22h neu" drafted an interval of
# 22 hours; "inform her that …", "information")
_INFORM = re.compile(r"inform(?!(iere\w*|ier\w*|ed|ing|ation\w*|e)\b)(?!\s+(her|him|them|us|me|the (customer|client|"
                     r"subscriber|user))\b)|report(s|ing)? (in |back )?every|meldeintervall|"
                     r"intervalle de (remontée|notification)|intervalo de (notificación|informe)",
                     _I)
_DURATION = re.compile(r"(\d{1,6})\s*(s|sec\w*|sekunden|secondes?|segundos?|min\w*|h|hours?|hrs?|stunden?|"
                       r"heures?|horas?)\b", _I)
# "one hour", "eine Stunde", "une heure", "una hora" (a single unit written as a word)
# after a setter word ("to one hour", "auf eine Stunde", "à une heure", "a una hora") or as an adjective
# ("a one-hour interval"): "the inform is an hour off" describes a symptom, not a value.
_ONE_UNIT = re.compile(r"(?:\b(?:to|auf|à|a|sur|en|zu)\s+(?:one|an?|eine?|une?|una?)\s+|\bone-)"
                       r"(hour|stunde|heure|hora|minute|minuto)\b", _I)
_REBOOT = re.compile(r"\b(reboot(?!ed)|restart(?!ed)|power[- ]cycle|neu ?start\w*|neustart\w*|starte\b.{0,30}\bneu|"
                     r"starte\b.{0,30}\bdurch\b|"
                     r"durchstart\w*|"
                     r"red[ée]marr\w*|rein[ií]ci\w*|"
                     # "relance la box": French for a restart when the box is its object ("relancer le client" is a
                     # follow-up call, "relancer le test" a retry)
                     r"relanc\w*\s+(?:(?:la|le|sa|son|ta|ton|votre|ma|mon)\s+)?(?:box|routeur|router|modem|passerelle)\b|"
                     r"relance[rz]?-la\b|\bla relancer\b)", _I)
_PING = re.compile(r"\bping\w*\s+(?:to\s+|an\s+|à\s+|a\s+)?([a-z0-9][a-z0-9.-]{1,252}\.[a-z0-9-]{1,63})\b|"
                   r"\bhaz ping a\s+(\S+)", _I)
_WIDE_SCOPE = re.compile(r"\b(all|every|each)\b[^.?!]{0,20}\b(devices?|gateways?|routers?|boxes|homes?|flats?)\b|"
                         r"\bbuilding\b|\ball(e|en|er)\b[^.?!]{0,20}\b(geräte\w*|router\w*|boxen)\b|\bgebäude|"
                         # "tous les wifi", "todos los wifis": every network of this box, not every box
                         r"\btou(te)?s les\b(?!\s+(wi-?fis?|wlans?|réseaux|bandes|radios)\b)|\bimmeuble|"
                         r"\btodos los\b(?!\s+(wi-?fis?|wlans?|radios)\b)|\bedificio", _I)
# A reboot described as a symptom ("it restarts by itself", "since the restart") is not a request.
_REBOOT_SYMPTOM = re.compile(r"\b(since|after|seit|nach|depuis|après|desde|después)\b[^\w.!?;]+(\w+[^\w.!?;]+){0,4}?"
                             r"(reboot\w*|restart\w*|neu ?start\w*|red[ée]marr\w*|reinici\w*)|keeps|itself|randomly|"
                             r"von selbst|ständig|immer wieder|tout seul|sans arrêt|\bsol[oa]\b(?!\s+rein[ií]ci)|"
                             r"constantly|"
                             # "it won't restart", "startet nicht neu", "ne redémarre pas", "no se reinicia"
                             r"\b(won'?t|doesn'?t|does not|will not|can'?t|cannot)\s+(re)?(boot|start)|"
                             r"\bstartet\b.{0,20}\bnicht\b|red[ée]marr\w*\s+(pas|plus)\b|"
                             r"\bno\s+(se\s+)?reinici", _I)
_HOST_OK = re.compile(r"^[a-z0-9.-]+$", _I)
# "since the factory reset" is history, not a request (the request itself: ``brain.understanding.lexicon``).
_FACTORY_SYMPTOM = re.compile(r"\b(since|after|seit|nach|depuis|après|desde|después)\b\W+(\w+\W+){0,6}?"
                              r"(factory|werks\w*|auslieferungszustand|usine|fábrica)", _I)
# --- mood of a destructive request: only an explicit request in the present drafts one.
# A request: "please …", "can you …", "the customer wants …", or an imperative with none of the below.
_ASKED = re.compile(r"\b(please|pls|plz|can (you|we|u)|could (you|we|u)|go ahead|let'?s|wants?|would like|"
                    r"asks?( us)? (to|for)|asked( us)? (to|for)|requests?|needs? (a|to)|bitte|kannst du|könnt ihr|"
                    r"können (sie|wir)|kann man|möchte|will|wünscht|lass uns|svp|s'il (te|vous) pla[iî]t|"
                    r"pouvez|peux-tu|tu peux|pourriez|tu pourrais|veut|demande|por favor|puedes|podemos|podrías|"
                    r"quiere|pide)\b", _I)
# It happened already: a past auxiliary or participle, a time in the past, "… themselves", "since then".
_HAPPENED = re.compile(
    r"\b(did|done|already|tried|yesterday|ago|earlier|last (week|night|month|time|year)|this morning|"
    r"on (monday|tuesday|wednesday|thursday|friday|saturday|sunday)|themselves|himself|herself|ever since|"
    r"since then|and now|(was|were|has been|have been|had been|got|has|have|had) (\w+ ){0,2}"
    r"(reset|restored|rebooted|restarted|wiped|factory)|"
    r"wurden?|hatten?|gestern|vorhin|letzte[nr]? woche|schon|bereits|selbst|seitdem|zurückgesetzt|"
    r"neu ?gestartet|a été|ont été|a fait|ont fait|déjà|hier|depuis|réinitialisée?s?\b|redémarrée?|"
    r"ayer|ya|hizo|hicieron|fue|desde entonces|restableci(ó|eron|do)|reinici(ó|aron|ado)|reseteado)\b", _I)
# Asked about, not asked for: "would it help?", "should we?", "do you think …", "maybe …?".
_WONDER = re.compile(
    r"^\W*(would|should|shall|will|does|do you think|is|are|what|why|how|might|maybe|perhaps|any point|"
    r"würde|wäre|sollen|sollten|soll|hilft|bringt|was|lohnt|est-ce|faut-il|serait|aiderait|vaut-il|"
    r"¿?\s*(serviría|ayudaría|debería|deberíamos|conviene|vale la pena|sería|funcionaría))\b|"
    r"\b(would|might|could) (it|that|this|a \w+( \w+)?) (help|fix|work|solve)|"
    r"\b(worth|helfen|hilft|(was|etwas|das) bringen|aider|ayudar)\b.*\?\s*$", _I)


def destructive_mood(text: str, clause_of: re.Pattern[str] | None = None) -> str:
    """``request``, ``history`` or ``question`` for the clauses that name a destructive operation.

    Why the mood and not only the words: "customer did a factory reset last week", "würde ein
    Werksreset helfen?" and "factory reset the box please" share the words; only the last asks for
    one. A clause that asks ("please …", "can you …", "the customer wants …") is a request; one
    that reports it as done, or wonders whether it would help, is answered, not drafted; a bare
    imperative ("factory reset the gateway") is a request."""
    clauses = [c for c in re.split(r"(?<=[.;!?\n])", text) if c.strip()]
    if clause_of is not None:
        clauses = [c for c in clauses if clause_of.search(c)] or clauses
    moods = []
    for c in clauses:
        if _ASKED.search(c) and not _WONDER.search(c.replace("please", "")):
            moods.append("request")
        elif _HAPPENED.search(c) or (_HAPPENED.search(text) and not _ASKED.search(c)):
            moods.append("history")
        elif _WONDER.search(c) or (c.rstrip().endswith("?") and not _ASKED.search(c)):
            moods.append("question")
        else:
            moods.append("request")
    for m in ("request", "history", "question"):
        if m in moods:
            return m
    return "request"


def reset_mood(text: str) -> str | None:
    """The mood of a factory reset the text names (None when it names none)."""
    if not (concepts.factory_reset(text) or _FACTORY_SYMPTOM.search(text)):
        return None
    return "history" if _FACTORY_SYMPTOM.search(text) else destructive_mood(text, _FACTORY_WORD)


_FACTORY_WORD = re.compile(r"factory|werks|auslieferung|usine|fábrica|fabrica", _I)
_TARGET = re.compile(r"\b(?:to|towards|zu|nach|an|bis|vers|à|jusqu['’]à|hacia|hasta|a|and|und|et|y|"
                     # "traceroute example.com", "tracert example.net": the host right after the word
                     r"traceroute|tracert|trace)\s+"
                     r"([a-z0-9][a-z0-9.-]{1,252}\.[a-z]{2,63})\b", _I)
_URL = re.compile(r"https?://[^\s\"'<>]{4,250}", _I)


class ExplicitRequest(BaseModel):
    """One named action with the value asked for exactly as given (never normalised away)."""

    action: Action
    band: Band | None = None
    value: Scalar | None = None
    servers: list[str] = []
    step: int | None = None  # a relative value ("a notch lower": -1), resolved against the device's own levels
    # several bands named for a band on/off ("both bands off"); none and no ``band``: every radio
    bands: list[Band] = []
    # bands the agent said to leave alone ("all bands to 40 MHz except the 2.4"): never the one chosen
    excluded: list[Band] = []
    # the network a name's visibility is asked of (``ssid_hide``): the guest one, else the subscriber's own
    role: Literal["primary", "guest"] | None = None
    # the place of the first server given: 2 for "the secondary DNS" ("set the secondary dns to 9.9.9.9" wrote the
    # primary), 1 otherwise
    first_server: int = Field(default=1, ge=1, le=2)


def _band(text: str) -> Band | None:
    m = _BAND.search(text)
    if m is None:
        return None
    return "5GHz" if m.group(1) == "5" else "6GHz" if m.group(1) == "6" else "2.4GHz"


def wide_scope(text: str) -> bool:
    """The request names more than this gateway (all devices, the building) — not where it rules them
    out ("no en todos los PX-7000", "not on all the routers")."""
    return any(not _RULED_OUT.search(text[max(0, m.start() - 30):m.start()]) for m in _WIDE_SCOPE.finditer(text))


# "not on all the PX-7000", "not the rest of the building", "nicht das ganze Haus": the others ruled out
_RULED_OUT = re.compile(r"\b(not|no|nicht|pas|ni|never|nunca|jamais)\b\W+((the |das |le |la |el )?(rest|others?|reste|"
                        r"resto|ganze\w*|whole|entire)\W+(of |des |de |del )?(the |la |el )?)?(\w+\W+)?$", _I)


# "from 6 to 11", "von 6 auf 11", "de 6 à 11", "del 6 al 11": the value it is set *to*; the one it comes from is what
# the device has now (every one of these drafted the old value). A band is never the old value ("del 2,4 al 50 %").
FROM_TO = re.compile(r"\b(?:from|von|de|del|desde)\s+(?P<noun>(?:(?:channel|kanal|canal|the|el|le|la|dem|den)\s+)*)"
                     r"(?!2[.,]4\b)\d+(?:[.,]\d+)?(?!\s*(?:ghz|g\b|er\b))\s*(?:%|mhz|s\b)?\s+"
                     r"(?P<to>to|auf|à|a|al|hasta|zu)\s+", _I)


def to_value(text: str) -> str:
    """``text`` with each "from X to" said as "to": the value a change is set to is the one after "to"."""
    return FROM_TO.sub(lambda m: f"{m.group('noun')}{m.group('to')} ", text)


def parse(text: str) -> ExplicitRequest | None:
    """The explicit action in ``text``, or None when the agent describes a symptom instead."""
    if not text.strip() or wide_scope(text):
        return None
    text = to_value(text)
    found = _hide_request(text, _band(text)) or _radio_request(text, _band(text)) or _service_request(text)
    if found is not None:
        return found
    if concepts.factory_reset(text) and not _FACTORY_SYMPTOM.search(text):
        if destructive_mood(text, _FACTORY_WORD) == "request":
            return ExplicitRequest(action="factory_reset")
        return None  # history or a question about one: answered, never drafted
    return _diagnostic_request(text)


_BY_AMOUNT = re.compile(rf"\b(by|um|de|en|en un|por)\s+{values.PERCENT}", _I)
_TO_LEVEL = re.compile(rf"\b(to|auf|à|a|al|at|sur)\s+{values.PERCENT}", _I)


def _power_request(text: str, band: Band | None) -> ExplicitRequest | None:
    """Transmit power: a share of full power, a step, "at the max", a number."""
    share, step = values.power_fraction(text), values.power_step(text)
    if share is not None or step is not None:  # "quarter power", "auf drei Viertel", "a notch lower"
        return ExplicitRequest(action="power", band=band, value=share, step=None if share is not None else step)
    if band is not None and _MAX_ALONE.search(text) and not _NOT_POWER.search(text):
        return ExplicitRequest(action="power", band=band, value=100)  # "mets la 5G au max": a radio at full power
    level = _TO_LEVEL.search(text)
    if band is not None and level is not None and not _NOT_POWER.search(text):
        # "set the 5 GHz to 80 percent": a radio at a share of full power (it was channel 80)
        return ExplicitRequest(action="power", band=band, value=int(re.findall(r"\d+", level.group(0))[0]))
    if band is not None and _TO_SHARE.search(text) and not _NOT_POWER.search(text):
        # "bring the 2.4 down to a quarter", "pon el 5 a la mitad": a radio set to a share of full power
        return ExplicitRequest(action="power", band=band, value=values.power_fraction(f"power {text}"))
    if _BY_AMOUNT.search(text) and not _TO_LEVEL.search(text):
        # "reduce the power by 25%": an amount to take off a level the message does not say — never the level 25 %
        return ExplicitRequest(action="power", band=band, value=None)
    m = _POWER.search(text)
    pct = int(m.group("n")) if m else values.percent(text)  # "raise the 2.4 power to 75 percent"
    if pct is not None:
        return ExplicitRequest(action="power", band=band, value=pct)
    return None


# A network's name hidden or shown again (``SSIDAdvertisementEnabled``): a verb that hides or shows, said of a network
# or its name. Participles ("is it hidden?", "masqué", "versteckt", "oculto") describe a state: a question's words.
_HIDE = re.compile(
    r"\b(hide|stop (broadcasting|advertising|showing)|(do not|don'?t|no longer) (broadcast|advertise|show)|"
    r"make (it|them|the [\w.-]+( [\w.-]+)?) invisible|verstecken|versteck(e)?|ausblenden|blende\b.{0,30}\baus|"
    r"unsichtbar machen|mach\w*\b.{0,30}\bunsichtbar|nicht (mehr )?(aussenden|ausstrahlen|anzeigen)|masquer|masque|"
    r"masquez|cacher|cachez|rend(re|s)\b.{0,40}\binvisible|ne plus (le |la )?(diffuser|afficher)|ocultar|"
    r"(?<!está )(?<!esta )(?<!es )(oculta|esconde)(?=\s+(la|el|las|los|su|tu)\b)|ocúlta(lo|la)|esconder|escónde(lo|la)|"
    r"hacer invisible|que no se vea|deja(r)? de (emitir|anunciar|mostrar))\b", _I)
_SHOW = re.compile(
    r"\b(unhide|un-hide|make (it|them|the [\w.-]+( [\w.-]+)?) visible( again)?|(show|broadcast|advertise) (it|them|"
    r"the [\w.-]+( [\w.-]+)?) again|visible again|wieder (sichtbar|aussenden|ausstrahlen|anzeigen)|sichtbar machen|"
    r"mach\w*\b.{0,30}\bsichtbar|einblenden|réafficher|rend(re|s)\b.{0,40}\bvisible|de nouveau visible|"
    r"visible à nouveau|rediffuser|"
    r"diffuser à nouveau|hacer visible|visible (otra vez|de nuevo)|volver a (emitir|mostrar|anunciar)|"
    r"que se vea (otra vez|de nuevo))\b", _I)
_NETWORK = re.compile(r"\b(ssids?|networks?|wi-?fi|\w*wlan|\w*netz\w*|réseau|red|nom|name|nombre|it|them|es|le|la|"
                      r"lo)\b|-(le|la|lo)\b|(lo|la)\b", _I)


def hides_or_shows(text: str) -> bool:
    """Whether ``text`` asks for a network's name hidden or shown again (never a new name: "stop broadcasting the
    network name" names no name)."""
    return bool(_SHOW.search(text) or _HIDE.search(text))


def _hide_request(text: str, band: Band | None) -> ExplicitRequest | None:
    """A network's name hidden or shown again: the guest network when named, else the subscriber's own."""
    show = _SHOW.search(text)
    hide = None if show else _HIDE.search(text)
    said = show or hide
    if said is None or not _NETWORK.search(text):
        return None
    return ExplicitRequest(action="ssid_hide", band=band, value=hide is not None,
                           role="guest" if _GUEST.search(text) else None)


def _radio_request(text: str, band: Band | None) -> ExplicitRequest | None:
    """Transmit power (a number, a share of full power, a step), channel, width, a band or the guest
    network on or off."""
    found = _power_request(text, band) or _width_or_channel(text, band)
    if found is not None:
        return found
    off = bool(_OFF.search(text)) and not _OFF_SYMPTOM.search(text)
    on, back_on = bool(_ON.search(text)), bool(_BACK_ON.search(text))
    first = _PARTICLE.search(text)
    if first is not None and not back_on:  # "turn off the wifi on 5 GHz": the particle after the verb says which
        off, on = first.group(2).lower() == "off", first.group(2).lower() == "on"
    if not (off or on or back_on):
        return None
    # "turn it back on" wins over an off word elsewhere in the message (a condition: "if it is off")
    value = (on or back_on) and not (off and not back_on and not on)
    if _GUEST.search(text):
        return ExplicitRequest(action="ssid_enable", band=band, value=value)
    if band is None and not _whole_wifi(text):
        return None
    return ExplicitRequest(action="band_enable", band=band, value=value)  # no band: every radio ("the wifi off")


def _near(m: re.Match[str] | None, limit: int) -> re.Match[str] | None:
    """``m`` when it begins before ``limit``."""
    return m if m is not None and m.start() < limit else None


# a number after "by" / "um" is how far to move, never the channel ("lower the 2.4 channel by two" wrote channel 2)
_BY = re.compile(r"\b(by|um)\s+$", _I)


def _width_or_channel(text: str, band: Band | None) -> ExplicitRequest | None:
    """A width said with its words ("channel width to 40"), a channel and its number, or a width in MHz —
    in that order: a width's words hold the channel word."""
    w = _WIDTH_WORD.search(text)
    # the number searched to the end and judged by where it begins: a window that ended inside "44" read "4"
    n = (_WIDTH.search(text) or _near(_WIDTH_NUM.search(text, w.end()), w.end() + _NEAR_WIDTH)) if w else None
    if n:
        return ExplicitRequest(action="width", band=band, value=f"{n.group(1)}MHz")
    m = _CHANNEL.search(text)
    num = _near(_NUM.search(text, m.end()), m.end() + _NEAR_CHANNEL) if m else None
    if num and _BY.search(text, 0, num.start()):
        return ExplicitRequest(action="channel", band=band, value=None)  # "lower the channel by two": no channel 2
    if num:
        return ExplicitRequest(action="channel", band=band, value=int(num.group(1)))
    m = _WIDTH.search(text)
    return ExplicitRequest(action="width", band=band, value=f"{m.group(1)}MHz") if m else None


def _service_request(text: str) -> ExplicitRequest | None:
    """DNS servers, the periodic inform interval."""
    if _DNS.search(text):
        servers = [x.group(1) for x in _IPV4.finditer(text)]
        if servers:
            return ExplicitRequest(action="dns", servers=servers[:2])
    lease = durations.seconds(text, durations.LEASE) if not _INFORM.search(text) else None
    if lease is not None:  # a lease with no length ("how long is the lease?") asks, as the inform interval does
        return ExplicitRequest(action="dhcp_lease", value=lease)
    if not _INFORM.search(text):
        return None
    said = durations.seconds(text)  # "von 24h auf 12 Stunden": the amount it is set to
    if said is not None:
        return ExplicitRequest(action="inform_interval", value=said)
    d = _DURATION.search(text)
    if d:
        return ExplicitRequest(action="inform_interval", value=int(d.group(1)) * durations.unit_seconds(d.group(2)))
    one = _ONE_UNIT.search(text)
    return ExplicitRequest(action="inform_interval", value=durations.unit_seconds(one.group(1))) if one else None


def _diagnostic_request(text: str) -> ExplicitRequest | None:
    """A traceroute, a speed test, a ping, a reboot asked for (never a reboot described as a symptom)."""
    t = _TARGET.search(text)
    if concepts.traceroute(text, has_target=t is not None):
        host = t.group(1).strip(".") if t else None
        return ExplicitRequest(action="traceroute", value=host if host and _HOST_OK.match(host) else None)
    if concepts.speed_test(text):
        u = _URL.search(text)
        return ExplicitRequest(action="speedtest", value=u.group(0).rstrip(".,;)") if u else None)
    m = _PING.search(text)
    host = (m.group(1) or m.group(2) or "").strip(".,;") if m else ""
    if host and _HOST_OK.match(host):
        return ExplicitRequest(action="ping", value=host)
    m = _REBOOT.search(text) or OFF_AND_ON.search(text)
    if m and not concepts.negated_at(text, m.start()) and (_reboot_ordered(text) or (
            not _REBOOT_SYMPTOM.search(text)
            and destructive_mood(text, _REBOOT if _REBOOT.search(text) else OFF_AND_ON) == "request")):
        return ExplicitRequest(action="reboot")
    return None


# A restart ordered with its object, opening its own part of the message ("reboot it, it has been slow since this
# morning", "redémarre-la, elle rame depuis ce matin"): the reason's "since this morning" was read as the restart's
# history, and the request as a symptom to diagnose
_REBOOT_ORDER = re.compile(
    r"^\W*(?:(?:please|pls|bitte|stp|svp|por favor|can you|could you)\s+)?"
    r"(?:(?:reboot|restart|power[- ]cycle)\s+(?:it|the|her|his|their|this|that)\b|"
    r"starte?\s+(?:ihn|sie|es|den|die|das)\b.{0,30}\bneu\b|"
    r"(?:redémarre[rz]?|relance[rz]?)(?:-la|-le|\s+(?:la|le|sa|son|votre)\b)|"
    r"reinici(?:a|e|ad)(?:lo|la)?\b(?:\s+(?:el|la|su)\b)?)", _I)


def _reboot_ordered(text: str) -> bool:
    """A part of ``text`` (split after sentence ends and commas) that orders a restart of the gateway, with nothing
    in that part saying it was done or happens by itself, and not asked as a question ("reboot it again?"). The
    other parts are its reason ("…, seit gestern bricht das WLAN ständig ab")."""
    return any(_REBOOT_ORDER.match(part) and not _HAPPENED.search(part) and not _REBOOT_SYMPTOM.search(part)
               and not part.rstrip().endswith("?") for part in re.split(r"(?<=[.;!?\n,])", text))
