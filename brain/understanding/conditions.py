"""Conditions in a request: "only if …", "unless …", "in case …" — found, then read as checks.

Why found before read: "use 8.8.8.8 as DNS in case none is configured" was drafted as a plain DNS
change that replaced a working server. The words that introduce a condition are few and stable in
each language (if / unless / in case / provided / as long as; wenn / falls / sofern / außer wenn /
es sei denn; si / sauf si / à condition que / au cas où; si / salvo que / a menos que / siempre que
/ en caso de que), so they are found with high recall; what follows is then read as a check on one
live fact (:data:`brain.understanding.request.Fact`). A condition that names no fact the planner can
check is returned *unplaced*: the planner asks instead of dropping it.

"check if …", "tell me if …", "dis-moi si …", "dime si …" are questions (whether), not conditions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from brain.understanding.durations import AMOUNT, unit_seconds
from brain.understanding.request import Band, Condition, Expect, Unplaced
from brain.understanding.targets import band_in, bands_in
from brain.understanding.values import offered_with

_I = re.IGNORECASE
_NEGATIVE = (r"unless|except if|except when|but not if|außer wenn|außer falls|außer|es sei denn|sauf si|sauf s'ils?|"
             r"à moins qu[e']|a menos que|salvo que|salvo si|excepto si|a no ser que")
_POSITIVE = (r"only if|only when|if and only if|if|provided( that)?|as long as|assuming|in case|in the event that|"
             r"nur wenn|nur falls|wenn|falls|sofern|solange|vorausgesetzt|seulement si|uniquement si|si|s'il|s'ils|"
             r"à condition qu[e']|au cas où|tant qu[e']|solo si|sólo si|siempre que|en caso de que|en caso que|"
             r"mientras")
_MARKER = re.compile(rf"(?<![\w'-])(?P<neg>{_NEGATIVE})(?![\w-])|(?<![\w'-])(?P<pos>{_POSITIVE})(?![\w-])", _I)
# "check if", "tell me if", "see whether", "wissen ob": an embedded question, not a condition.
_WHETHER = re.compile(r"\b(check\w*|see|seeing|tell me|let me know|find out|asks?|asked|asking|wonder\w*|verify|"
                      r"know|confirm|look|want to know|wants to know|dis-moi|dites-moi|vérifie[sz]?|regarde[sz]?|sais|"
                      r"savoir|demande\w*|dime|dígame|mira|comprueba|revisa|sabes|saber|pregunta\w*|"
                      r"quiere saber|schau|prüf\w*|sag mir|weißt|fragt|gefragt)\s+(\w+\s+)?$", _I)
# "si" opens a condition only when a clause follows (a subject, an article, a negation, a verb of state)
# — an adverb of time or degree maybe first ("si ahora mismo está al máximo", "si actuellement il est sur 36": the
# condition was dropped and its "al máximo" became the change's value)
_SI_CLAUSE = re.compile(r"\s+(?:(?:ahora|ahorita|mismo|actualmente|realmente|de verdad|en (?:este|ese) momento|"
                        r"de momento|actuellement|maintenant|en ce moment|vraiment|déjà|encore|"
                        r"toujours|"
                        # ... or a time first ("si a las 3 de la madrugada no hay nadie", "si cette nuit personne …")
                        r"a las \d{1,2}(?:[:.]\d\d)?(?: de la (?:madrugada|mañana|tarde|noche))?|esta noche|mañana|hoy|"
                        r"por la noche|cette nuit|ce soir|demain|à \d{1,2}\s*h(?:\d\d)?|vers \d{1,2}\s*h(?:\d\d)?)"
                        r",?\s+)*(il|elle|ils|elles|on|le|la|les|l'|un|une|des|c'|ce|cet|cette|ces|personne|rien|"
                        r"aucun\w*|quelqu'un|jamais|el|los|las|una?|no|nadie|ya|todavía|aún|está\w*|hay|tiene\w*|es|"
                        r"son|se|alguien|ningún|ninguno|ninguna|sigue|lleva|su|sus|sa|ses|leurs?|mi|tu)\b", _I)
# "just in case", "au cas où" alone at the end: a precaution, not a condition on a fact.
_PRECAUTION = re.compile(r"^\s*(just|juste|por|pour)?\s*(in case|au cas où|por si acaso|sicherheitshalber)\s*[.!]?\s*$",
                         _I)
# A condition ends at its sentence's end or at the next comma ("if it is on 6, move it to 1"; "move it
# to 1 if it is on 6, thanks") — never at the point or comma inside a number ("7.2.6", "2,4").
_END = re.compile(r"\.(?=\s|$)|,(?!\d)|[;!?\n]|\s(?=(then|dann|alors|entonces)\b)|"
                  # … or where the change itself begins, said without a comma ("if the 2.4GHz is on channel 1 move
                  # it to 6", "si el 2,4 está en el canal 1 pásalo al 6": the action was read as the condition's)
                  r"\s(?=(?:move|put|switch|change|set|turn|shift)\s+(?:it|them|that)\b|"
                  r"(?:pása|pon|cámbia|cambia|muéve|mueve|bája|baja|súbe|sube|reiníci|reinici|apág|apag|enciénd|"
                  r"enciend|actív|activ|desactív|desactiv)a?(?:lo|la)\b|"
                  r"(?:mets|passe|bascule|change|baisse|monte|redémarre|relance|éteins|allume|coupe|active|"
                  r"désactive|renomme|remets)-(?:le|la|les)\b|"
                  r"(?:stell|setz|schalt|änder|wechsel)\w*\s+(?:ihn|es|sie)\b|"
                  # … or where the other branch, nothing done, begins ("if it's already off just leave it")
                  r"(?:just\s+|simply\s+|then\s+)?(?:leave\s+(?:it|them)|d[ée]ja(?:lo|la)|laisse(?:-le|-la)?|"
                  r"lass\s+(?:es|ihn|sie))\b)|"
                  # … or where a command verb follows a clause that has ended: on its number or its state ("if it's
                  # 36 move the 5 to 44", "if nobody is connected reboot it", "si c'est sur 36 passe le 5 sur 44"),
                  # or on the verb a German subordinate clause ends with ("wenn keiner verbunden ist starte …")
                  r"(?:(?<=\d)|(?<=GHz)|" + "|".join(rf"(?<=\b{w})" for w in (
                      "on", "off", "up", "down", "connected", "online", "offline", "empty", "enabled", "disabled",
                      "active", "home", "there", "running", "days", "hours", "weeks", "ist", "sind", "hat", "läuft",
                      "steht", "gibt", "connecté", "connectés", "allumé", "éteint", "jours", "conectado", "conectados",
                      "encendido", "apagado", "días")) + r")"
                  # (the imperative itself: "… 1.0.0.1 setzen" ends a German clause with its infinitive)
                  r"\s(?=(?:move|put|switch|change|set|turn|shift|reboot|restart|reset|lower|raise|drop|disable|"
                  r"enable|rename|stelle?|setze?|schalte?|ändere?|wechsle|starte?|mache?|nimm|drehe?|senke?|erhöhe?|"
                  r"mets|passe|bascule|change|baisse|monte|redémarre|relance|éteins|allume|coupe|active|désactive|"
                  r"pasa|pon|cambia|mueve|baja|sube|reinicia|apaga|enciende|activa|desactiva)\b)", _I)


# A branch where nothing is done: "…, leave it", "…, déjalo como está", "…, lass es", "…, don't bother".
_LEAVE_IT = re.compile(
    r"(?:^|(?<=\s))\s*,?\s*(then\s+|dann\s+|alors\s+|entonces\s+)?(just\s+|simply\s+|einfach\s+|juste\s+|tu\s+|pues\s+|"
    r"simplemente\s+)?(leave (it|them)( alone| as it is| be)?|"
    r"don'?t (bother|touch (it|anything|a thing)|do anything|change anything)|do nothing|"
    r"lass (es|ihn|sie|das)( so| in ruhe| wie es ist)?|"
    r"nichts (machen|tun)|mach nichts|laisse[sz]?(-le|-la)?( tomber| comme ça| tel quel)?|"
    r"ne (fais|touche) rien|n'y touche pas|d[ée]ja(lo|la)( como est[áa]| así| estar)?|no (hagas|toques) nada)"
    r"\b[^.;!?]*", _I)


# what follows a condition but is no part of it: "… on 2.4GHz leaving 5GHz untouched"
_LEAVING = re.compile(r"\b(leaving|leave|except|but not|without touching|außer|ohne|sauf|sans toucher|excepto|"
                      r"sin tocar)\b", _I)


@dataclass
class Found:
    conditions: list[Condition] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)


# ---------------------------------------------------------------------------- facts
_NONE = (r"(none|nothing|no (one|dns|server|resolver|value)s?|not (set|configured|there|present|filled)|empty|"
         r"(isn'?t|aren'?t|is not|are not|no)\s+(\w+\s+){0,2}(set|configured|there|present)|"
         r"missing|isn'?t (set|configured|there)|aren'?t (set|configured|there)|is blank|"
         r"kein\w*|nichts|leer|nicht (gesetzt|konfiguriert|eingetragen|vorhanden|da)|fehlt|"
         r"aucun\w*|rien|vide|pas (de|configuré\w*|défini\w*|renseigné\w*)|n'est pas|manque|"
         r"ning[uú]n\w*|nada|vac[ií]o|no (hay|est[aá]|tiene)|falta)")
_DNS = re.compile(r"\b(dns|resolver\w*|name ?servers?|nameserver\w*|serveurs? de noms|servidor(es)? de nombres)\b", _I)
_NEIGHBOUR = re.compile(r"\b(neighbou?rs?|nachbar\w*|voisin\w*|vecin\w*|other (aps?|networks?|routers?)|"
                        r"andere\w* (netz\w*|wlan\w*|router)|autres? réseaux?|otras? redes?|"
                        r"(free|frei|libre|clear|unused|empty|occupied|taken|busy|crowded|belegt|besetzt|occupé\w*|"
                        r"ocupad\w*|saturé|überfüllt)\b)", _I)
_HOSTS = re.compile(r"\b(no ?(one|body)|nobody|anyone|anybody|someone|somebody|clients?|devices?|users?|"
                    r"connected|on the (wi-?fi|network)|using it|online|niemand|jemand|keiner|geräte?|verbunden|"
                    r"personne|quelqu'un|appareils?|connecté\w*|nadie|alguien|dispositivos?|conectad\w*|equipos?)\b",
                    _I)
_ONLINE = re.compile(r"\b(online|offline|reachable|back( up| online)?|up|down|erreichbar|en ligne|hors ligne|"
                     r"joignable|en l[ií]nea|conectad[oa]|desconectad[oa])\b", _I)
_FIRMWARE = re.compile(r"\b(firmware|software|version|fw|build|micrologiciel|versión)\b\D{0,20}?"
                       r"(?P<v>\d+(?:\.\d+){1,3}[\w.-]*|(?<![\w.])[A-Za-z]{1,4}\d{2,}[\w.-]*)", _I)
# ... an article maybe before ("si está en el 36", "s'il est sur le canal 36": it was read as "already there", the
# channel asked for; "si el canal es el 1": no condition read)
_ON_CHANNEL = re.compile(r"\b(?:on|auf|sur|en)\s+(?:(?:the|le|el|dem|den)\s+)?(?:channel|kanal|canal)?\s*"
                         r"(?P<n>\d{1,3})\b(?![.,]\d)|"
                         r"\b(?:channel|kanal|canal)\s+(?:is\s+|ist\s+|est\s+|es\s+)?(?:(?:the|le|el)\s+)?"
                         r"(?P<m>\d{1,3})\b", _I)
_ENABLED = re.compile(r"\b(on|off|enabled|disabled|active|inactive|switched \w+|turned \w+|an|aus|aktiv|"
                      r"eingeschaltet|ausgeschaltet|activ\w*|désactiv\w*|coupée?|éteinte?|allumée?|encendid\w*|"
                      r"apagad\w*|desactivad\w*)\b", _I)
# a band "up and running", "actually working", "läuft", "marche", "funciona": on
_WORKING = re.compile(r"\b(up|running|working|live|läuft|funktioniert|geht|marche|fonctionne|tourne|funciona|"
                      r"anda|va)\b", _I)
_OFFISH = re.compile(r"\b(off|disabled|inactive|aus|ausgeschaltet|deaktiviert|désactiv\w*|coupée?|éteinte?|apagad\w*|"
                     r"desactivad\w*|down|offline|hors ligne|desconectad\w*)\b", _I)
_NEGATED = re.compile(r"\b(not|isn'?t|aren'?t|doesn'?t|don'?t|hasn'?t|haven'?t|wasn'?t|weren'?t|didn'?t|"
                      r"nicht|kein\w*|pas|n'|no|nadie|nobody|no one|"
                      r"niemand|personne|none|nothing|rien|nada|ningún|ninguno)\b", _I)
_GUEST = re.compile(r"\b(guest|gäste|gast\w*|invité\w*|invitad\w*|visitor\w*|besucher\w*)\b", _I)
_ALREADY = re.compile(r"\b(already|schon|bereits|déjà|ya)\b", _I)
# people on the gateway's own Wi-Fi, not neighbouring networks: "if nobody is connected / using it"
_HOSTS_ONLY = re.compile(r"\b(connected|using|online|verbunden|im wlan|connecté\w*|conectad\w*|hängt|home|zuhause|"
                         r"chez eux|en casa)\b", _I)


_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400,
           "fortnight": 14 * 86400}
_UNITS = re.compile(r"(?P<n>\d+(?:[.,]\d+)?|an?|one|a couple of|couple of|ein(e|en|em)?|une?|una?|anderthalb|"
                    r"eineinhalb)?(?P<half>\s+and a half|\s+und ein(?:en)? halbe[nr]?|½)?\s*"
                    r"(?P<u>minutes?|hours?|days?|weeks?|months?|minuten|stunden?|tag(e|en)?|wochen?|monat(e|en)?|"
                    r"heures?|jours?|semaines?|mois|horas?|días?|dias?|semanas?|mes(es)?|fortnights?|"
                    r"quinzaine|quincena)\b(?P<half_after>\s+(?:and a half|et demie?|y medi[oa]))?", _I)
_UNIT_WORD = {"min": "minute", "hou": "hour", "stu": "hour", "heu": "hour", "hor": "hour", "day": "day", "tag": "day",
              "jou": "day", "día": "day", "dia": "day", "wee": "week", "woc": "week", "sem": "week", "mon": "month",
              "moi": "month", "mes": "month", "for": "fortnight", "qui": "fortnight"}
_UPTIME = re.compile(r"\b(running|up|been up|on|restart\w*|reboot\w*|läuft|neu ?gestartet|neustart|seit|an|am stück|"
                     r"durchgehend|ohne neustart|sans (redémarr\w*|interruption)|sin (reinici\w*|parar)|"
                     r"tourne|allumée?|redémarr\w*|encendid\w*|reinici\w*|lleva|funcionando|uptime|laufzeit)\b", _I)
_MORE = re.compile(r"\b(over|more than|longer than|at least|for|in|already|über|mehr als|länger als|seit|schon|bereits|"
                   r"plus de|depuis|déjà|ya|lleva|llevan|lleve|"  # "si lleva 3 días encendido": for 3 days and more
                   r"au moins|más de|desde hace|hace|al menos)\b", _I)
_LESS = re.compile(r"\b(less than|under|fewer than|within|unter|weniger als|moins de|menos de)\b", _I)
_POWER_C = re.compile(r"\b(transmit power|tx ?power|power|sendeleistung|leistung|puissance|potencia)\b", _I)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_PCT = re.compile(r"(?P<n>\d{1,3})\s*(%|percent|prozent|pour ?cent|por ?ciento)", _I)


def _share(text: str) -> int | None:
    """A share of full power said in words ("half", "am Anschlag", "al máximo"), in percent."""
    from brain.understanding.values import power_fraction

    return power_fraction(f"power {text}")


def _seconds_in(text: str) -> int | None:
    """The length of time ``text`` names, in seconds: a number (or "a", "a couple of") and its unit."""
    m = _UNITS.search(text)
    if m is None:
        short = AMOUNT.search(text)  # "45 min", "3 hrs", "2 Std": a number and a short unit, the one table of units
        return int(short.group(1)) * unit_seconds(short.group(2)) if short else None
    n_raw = (m.group("n") or "1").lower().replace(",", ".")
    n = float(n_raw) if re.fullmatch(r"\d+(\.\d+)?", n_raw) else (
        2 if "couple" in n_raw else 1.5 if n_raw.endswith("einhalb") or n_raw == "anderthalb" else 1)
    if m.group("half") or m.group("half_after"):  # "3 and a half days", "3 jours et demi", "un día y medio"
        n += 0.5
    unit = _UNIT_WORD.get(m.group("u").lower()[:3], "day")
    return round(n * _UNIT_S[unit])


_ON_STATE = re.compile(r"\b(on|enabled|active|up|running|an|eingeschaltet|aktiv\w*|allumée?|activée?|actif|active|"
                       r"encendid[oa]|activad[oa]|prendid[oa])\b", _I)
_ALREADY_THERE = re.compile(r"\b(already|schon|bereits|déjà|ya|still|noch|encore|todavía|aún)\b|\by est\b|"
                            r"\bdrauf\b|\bthere\b|\bdort\b|\bahí\b", _I)
_VERSION = re.compile(r"(?<![\w.])(\d+(?:\.\d+){1,3}[\w.-]*|"
                      r"(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{6,}[\w-]*|[A-Z]{1,4}\d{2,}[\w-]*)(?![\w.])")
_RUNS_ON = re.compile(r"\b(on|runs?|running|is on|auf|läuft|sur|tourne|en|tiene|lleva|con|firmware|version|fw|"
                      r"versión|software|drauf|installed|installiert|install[ée]e?|instalad[oa]|has|hat|a|tient)\b", _I)


def _refers_back(text: str, negative: bool, action: str | None, value: object, band: Band | None) -> Condition | None:
    """A condition on the action's own object by a pronoun ("if it isn't on already", "sauf si elle y est
    déjà", "sofern er noch auf der 7.2.6 läuft"): the state the action would change, or the firmware."""
    neg = bool(_NEGATED.search(text))
    if action in ("ssid_enable", "band_enable"):
        said_on, said_off = bool(_ON_STATE.search(text)), bool(_OFFISH.search(text))
        if said_on or said_off or _ALREADY_THERE.search(text):
            state = said_on if (said_on or said_off) else bool(value)
            go_when = state != neg  # the state that makes the condition true
            fact = "ssid_enabled" if action == "ssid_enable" else "band_enabled"
            return Condition(fact=fact, expect="eq", value=go_when != negative, band=band, words=text)  # type: ignore[arg-type]
    version = _VERSION.search(text)
    if version is not None and _RUNS_ON.search(text) and not re.fullmatch(r"\d{1,3}", version.group(1)):
        return Condition(fact="firmware", expect="eq" if neg == negative else "ne", value=version.group(1), words=text)
    if action == "channel" and value is not None and _ALREADY_THERE.search(text) and not _NEIGHBOUR.search(text):
        # "unless it is already there / on 11": the channel already being the one asked for
        equal = not neg
        chan = value if isinstance(value, (int, str)) else None
        return Condition(fact="channel", expect="eq" if equal != negative else "ne", value=chan, band=band, words=text)
    return None


def _fact(words: str, negative: bool, action: str | None, value: object, band: Band | None) -> Condition | None:
    """The check ``words`` (the condition's own clause) names, as what must hold to go ahead."""
    found = _fact_named(words, negative, action, value, band)
    return found if found is not None else _refers_back(words.strip(), negative, action, value, band)


def _fact_named(words: str, negative: bool, action: str | None, value: object, band: Band | None) -> Condition | None:
    """A condition that names its fact (DNS, neighbours, uptime, power, firmware, channel, hosts, …): the
    first of the readers below, in this order (a more specific fact before a vaguer one)."""
    said = _Said(text=words.strip(), neg_words=bool(_NEGATED.search(words)), negative=negative, action=action,
                 value=value, band=band)
    for reader in _READERS:
        found = reader(said)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class _Said:
    """A condition's own words and what they are read against (the action, its value and band)."""

    text: str
    neg_words: bool
    negative: bool
    action: str | None
    value: object
    band: Band | None


def _uptime(c: _Said) -> Condition | None:
    """"if it's been running for over a month", "if it hasn't been restarted in a week"."""
    text = c.text
    secs = _seconds_in(text)
    if secs is None or not _UPTIME.search(text) or _PCT.search(text):
        return None
    # "restarted in a month" negated = up longer than that; "running for over a month" = longer
    restarted = re.search(r"restart|reboot|neu ?gestartet|neustart|redémarr|reinici", text, _I)
    running = re.search(r"\b(running|been up|up for|läuft|tourne|allumée?|encendid\w*|lleva|funcionando|"
                        r"uptime|laufzeit)\b", text, _I)
    if running or not restarted:
        longer = bool(_MORE.search(text)) and not _LESS.search(text)
    else:  # "hasn't been restarted in a month": up longer; "was restarted within a day": shorter
        longer = c.neg_words or bool(re.search(r"\b(without|ohne|sans|sin)\b", text, _I))
    go: Expect = "gt" if longer != c.negative else "lt"
    return Condition(fact="uptime", expect=go, value=secs, words=text)


def _power(c: _Said) -> Condition | None:
    """"if the power is below 50 %", "if it is under half", "siempre que esté al máximo"."""
    text = c.text
    pct = _PCT.search(text)
    share = _share(text) if pct is None else None
    if (pct is None and share is None) or not (_POWER_C.search(text) or c.action == "power"):
        return None
    lower = bool(re.search(r"\b(below|under|less|lower|unter|weniger|niedriger|moins|en dessous|inférieur\w*|"
                           r"menos|por debajo|inferior)\b", text, _I))
    higher = bool(re.search(r"\b(above|over|more|higher|über|mehr|höher|plus de|au-dessus|supérieur\w*|más de|"
                            r"por encima|superior)\b", text, _I))
    value = int(pct.group("n")) if pct else int(share or 0)
    if not lower and not higher:  # "at full", "al máximo", "if it is at 50 %" (was "above 50 %"): exactly that level
        return Condition(fact="power", expect="eq" if not c.negative else "ne", value=value,
                         band=c.band or band_in(text), words=text)
    go: Expect = "lt" if lower != c.negative else "gt"
    return Condition(fact="power", expect=go, value=value, band=c.band or band_in(text), words=text)


def _dns(c: _Said) -> Condition | None:
    """A DNS server by its address ("only if it still points at 192.0.2.53"), or none set ("if the DNS is
    empty", "falls kein DNS eingetragen ist")."""
    text = c.text
    ip = _IPV4.search(text)
    if ip is not None and (c.action == "dns" or _DNS.search(text)):
        has: Expect = "eq" if c.neg_words == c.negative else "ne"
        return Condition(fact="dns_servers", expect=has, value=ip.group(0), words=text)
    if _DNS.search(text) or (c.action == "dns" and re.search(_NONE, text, _I)):
        empty = bool(re.search(_NONE, text, _I))
        expect: Expect = "empty" if empty != c.negative else "nonempty"
        return Condition(fact="dns_servers", expect=expect, words=text)
    return None


_SOMEONE = (r"\b(nobody|no one|anyone|someone|somebody|another|other|niemand|jemand|keiner|personne|quelqu'un|autre|"
            r"nadie|alguien|otro|otra)\b")
_USING = re.compile(r"\b(nobody|no one|anyone|someone|somebody|another|other|else|niemand|jemand|keiner|personne|"
                    r"quelqu'un|autre|nadie|alguien|otro|otra|using|uses|sits|sitting|on it|nutzt|benutzt|utilise|"
                    r"usa)\b", _I)


def _occupancy(c: _Said) -> bool:
    """The words say whether the channel asked for holds another network."""
    text = c.text
    names_target = c.action == "channel" and (
        (c.value is not None and re.search(rf"(?<![\d.]){c.value}(?![\d.])", text)) or re.search(
            r"\b(there|that channel|this channel|dort|darauf|drauf|là|dessus|ce canal|ahí|allí|ese canal)\b", text,
            _I))
    if _NEIGHBOUR.search(text):
        return True
    if names_target and _USING.search(text):
        return True
    return c.action == "channel" and bool(re.search(_SOMEONE, text, _I)) and not _HOSTS_ONLY.search(text)


def _neighbour(c: _Said) -> Condition | None:
    """A neighbour on the channel asked for: "unless a neighbour already sits there", "if 11 is free",
    "as long as nobody around is sitting on 13"."""
    text = c.text
    if not _occupancy(c) or not (c.action == "channel" or re.search(r"\b(channel|kanal|canal)\b", text, _I)):
        return None
    busy_words = re.search(r"\b(neighbou?r|nachbar|voisin|vecin|other|andere|autre|otra|occupied|taken|busy|"
                           r"crowded|belegt|besetzt|occupé|ocupad|saturé|überfüllt|someone|somebody|anyone|"
                           r"nobody|no one|jemand|niemand|keiner|quelqu'un|personne|alguien|nadie)\w*", text, _I)
    free_words = re.search(r"\b(free|frei|libre|clear|unused|empty)\b", text, _I)
    occupied = bool(busy_words) and not c.neg_words
    if free_words and not busy_words:
        occupied = c.neg_words
    if busy_words and (c.neg_words or re.search(r"\b(nobody|no one|niemand|keiner|personne|nadie)\b", text, _I)) and \
            re.search(r"\b(no|kein\w*|aucun\w*|ningún|nobody|no one|niemand|keiner|personne|nadie)\b", text, _I):
        occupied = False
    # go ahead when the channel holds no neighbour: "unless occupied" / "if free" / "if no neighbour"
    go_when_free = occupied == c.negative
    num = re.search(r"\b(\d{1,3})\b", text)
    chan = int(num.group(1)) if num else (c.value if isinstance(c.value, int) else None)
    if chan is None:
        return None
    return Condition(fact="neighbour_on_channel", expect="empty" if go_when_free else "nonempty", value=chan,
                     band=c.band, words=text)


# "… if it's 36, move it to 44": beside a channel change, a bare number the radio "is" is its channel
_IS_NUMBER = re.compile(r"\b(?:it'?s|it is|is|ist|es|est|c'est|está|esté|sea)\s+(?:still\s+|noch\s+|encore\s+|"
                        r"todavía\s+)?(?P<n>\d{1,3})\b(?![.,]\d)(?!\s*(?:%|mhz|ghz|db|uhr|h\b|am\b|pm\b|min|"
                        r"s\b|percent|prozent|pour|por|clients?|devices?|geräte|appareils|dispositivos))(?P<m>)", _I)


_OTHER_SETTING = re.compile(r"\b(power|leistung|sendeleistung|puissance|potencia|width|breite|largeur|ancho|"
                            r"interval\w*|uptime|firmware|version|clients?|devices?|geräte|appareils|dispositivos|dns|mhz|signal|"
                            r"rssi|dbm|temperature|temperatur|température|load|last|charge|carga)\b", _I)


def _firmware_or_channel(c: _Said) -> Condition | None:
    """The firmware ("if it's on 1.4.2", "unless it already runs 2.0") or the channel the radio is on
    ("if it's still on 149", "unless it's already on 11")."""
    text = c.text
    m = _FIRMWARE.search(text) or (re.search(r"\b(on|runs?|running|auf|sur|en)\s+(?P<v>\d+(\.\d+){1,3}\w*)", text, _I)
                                   if not re.search(r"\b(channel|kanal|canal)\b", text, _I) else None)
    if m:
        return Condition(fact="firmware", expect="eq" if (not c.neg_words) != c.negative else "ne", value=m.group("v"),
                         words=text)
    m = _ON_CHANNEL.search(text) or (_IS_NUMBER.search(text) if c.action == "channel" and not _OTHER_SETTING.search(
        text) else None)
    if m and not _NEIGHBOUR.search(text):
        n = int(m.group("n") or m.group("m"))
        return Condition(fact="channel", expect="eq" if (not c.neg_words) != c.negative else "ne", value=n,
                         band=c.band or band_in(text), words=text)
    return None


_NOBODY = re.compile(r"\b(no ?(one|body)|nobody|niemand|keiner|kein\w*|personne|aucun\w*|nadie|ning[uú]n\w*|"
                     r"no (clients?|devices?|users?))\b", _I)


_THE_GATEWAY = re.compile(r"\b(gateway|router|routeur|box|modem|cpe|ont|it)\b", _I)
_WHO = re.compile(r"\b(no ?(one|body)|nobody|anyone|anybody|someone|somebody|nothing|anything|something|nichts|"
                  r"rien|nada|clients?|devices?|users?|niemand|jemand|"
                  r"keiner|geräte?|personne|quelqu'un|appareils?|nadie|alguien|dispositivos?|equipos?|using it)\b", _I)


def _hosts(c: _Said) -> Condition | None:
    """Connected hosts: "if nobody is connected", "when no one is using it", "si personne n'est connecté"."""
    text = c.text
    if not _HOSTS.search(text) or (_THE_GATEWAY.search(text) and not _WHO.search(text)):
        return None  # "if the gateway is online" is the gateway's presence, no host
    # "someone is (still) online": the clients' presence, said with the gateway's word (it was the gateway online)
    if not _ONLINE.search(re.sub(r"\b(is|are|ist|sind|est|sont|está|están)\s+(?:still\s+|noch\s+|encore\s+|"
                                 r"todavía\s+|aún\s+|already\s+|schon\s+|déjà\s+|ya\s+)?online\b|"
                                 r"\bonline\s+(?:ist|sind)\b", "", text,
                                 flags=_I) or ""):
        nobody = bool(_NOBODY.search(text)) or (c.neg_words and not re.search(
            r"\b(someone|somebody|anyone|anybody|jemand|quelqu'un|alguien)\b", text, _I))
        go_h: Expect = "empty" if nobody != c.negative else "nonempty"
        return Condition(fact="hosts_connected", expect=go_h, words=text)
    # "… online", "… conectado" said of the hosts: "si no hay ningún dispositivo conectado" is no gateway offline
    if _NOBODY.search(text):
        return Condition(fact="hosts_connected", expect="nonempty" if c.negative else "empty", words=text)
    return None


def _on_off(c: _Said) -> Condition | None:
    """The guest network or a band on or off ("if the guest network is on", "if the 5 GHz is off"), or the
    gateway's presence ("if it's still offline", "once it is back online")."""
    text = c.text
    on = bool(_OFFISH.search(text)) == c.neg_words
    if _GUEST.search(text) and _ENABLED.search(text):
        return Condition(fact="ssid_enabled", expect="eq", value=on != c.negative, words=text)
    b = band_in(text)
    if b is not None and (_ENABLED.search(text) or _WORKING.search(text)):
        return Condition(fact="band_enabled", expect="eq", value=on != c.negative, band=b, words=text)
    if _ONLINE.search(text):
        return Condition(fact="online", expect="eq", value=on != c.negative, words=text)
    return None


_READERS: tuple[Callable[[_Said], Condition | None], ...] = (_uptime, _power, _dns, _neighbour, _firmware_or_channel,
                                                            _hosts, _on_off)


# "if so", "if it is", "falls ja", "si c'est le cas", "si es así": the condition is the question just
# asked ("is their DNS empty? if it is, put 9.9.9.9") — read from that question's words.
_ANAPHORIC = re.compile(r"\s*(so|yes|it is|it does|that'?s the case|that is the case|this is the case|true|ja|"
                        r"(dem|das|es) so ist|c'est le cas|oui|c'est ça|c'est bien le cas|es así|es el caso|sí|si|"
                        r"lo está|lo es)\s*$", _I)
_SO = re.compile(r"\s*(so|yes|ja|oui|sí)\b", _I)  # "if so switch it on": the particle, then the action
_QUESTION = re.compile(r"([^.?!;\n]{3,200})\?+\s*$")


def _asked_before(before: str) -> str | None:
    """The question that ends right before an "if so" (its words without the question mark)."""
    m = _QUESTION.search(before.rstrip(" ,"))
    return m.group(1).strip() if m else None


def find(text: str, *, action: str | None, value: object, band: Band | None) -> Found:
    """Every condition in ``text`` (the matching text), read as a :class:`Condition` or unplaced."""
    out = Found()
    otherwise: list[tuple[int, int, str]] = []
    for m in _MARKER.finditer(text):
        clause = _clause_of(text, m, out)
        if clause is None:
            continue
        span = (m.start(), m.end() + len(clause))
        if _PRECAUTION.match(text[m.start():m.end() + len(clause)]) or not clause.strip(" ,"):
            out.spans.append(span)
            continue
        asked, clause, span = _if_so(text, m, clause, span)
        cond = _fact(asked or clause, bool(m.group("neg")), action, value, band)
        whole = text[span[0]:span[1]].strip()
        if asked:
            whole = f"{whole} ({asked}?)"  # what "if so" stands for, said back to the agent and the approver
        leave = _leave_branch(text[m.end():], clause)
        if leave is not None:
            # "si ya lleva otro, déjalo como está", "if not, leave it": the other branch of a condition,
            # where nothing is done — read once the conditions are known
            otherwise.append((span[0], span[1] + leave, whole))
            continue
        out.spans.append(span)
        if cond is not None and len(bands_in(_LEAVING.split(whole, maxsplit=1)[0])) > 1:
            # "if the 2.4 is on channel 1 and the 5 GHz is on 36": two facts, read as one (the second dropped)
            out.unplaced.append(Unplaced(words=whole, kind="condition",
                                         why="two conditions in one: say each with its own band"))
        elif cond is None:
            out.unplaced.append(Unplaced(words=whole, kind="condition",
                                         why="a condition on something I cannot check on the device"))
        elif cond.expect in ("eq", "ne") and offered_with(clause, cond.value):
            # "if it is on 1 or 6, …": the first value alone was checked, so on 6 nothing was done
            out.unplaced.append(Unplaced(words=whole, kind="condition", why=(
                "a condition on either of two values: I can check one value — say it as one request for each")))
        elif cond.value is not None and offered_with(clause, cond.value, both=True):
            # "if the neighbours are on 1 and 6": the first value alone was checked, the second dropped
            out.unplaced.append(Unplaced(words=whole, kind="condition", why=(
                "a condition on two values at once: I can check one value — say which matters")))
        else:
            out.conditions.append(cond.model_copy(update={"words": whole}))
    for a, b, whole in otherwise:
        out.spans.append((a, b))
        if not out.conditions and not out.unplaced:
            out.unplaced.append(Unplaced(words=whole, kind="condition",
                                         why="when to leave it alone, but not when to act"))
    out.conditions = _without_else_branches(out.conditions)
    return out


def opens_one(part: str) -> bool:
    """The clause opens with a condition's marker ("if nobody is online tonight", "wenn keiner da ist", "si ya no
    hay nadie"): its times are when to act, never a description of a symptom."""
    m = _MARKER.match(part.lstrip(" ,;"))
    if m is None:
        return False
    return m.group(0).lower() != "si" or _SI_CLAUSE.match(part.lstrip(" ,;"), m.end()) is not None


def _without_else_branches(found: list[Condition]) -> list[Condition]:
    """"if it is still on 36 move it to 44. if it isn't on 36 anymore don't touch anything": the second is the
    first's other branch, saying to do nothing — no second condition (both together never held, so nothing was
    ever done). Only a "leave it" said in that condition's own words, and only the exact opposite of another."""
    def opposite(c: Condition, d: Condition) -> bool:
        return ({c.expect, d.expect} == {"eq", "ne"} and (c.fact, c.value) == (d.fact, d.value)
                and (c.band == d.band or c.band is None))  # "if it isn't on 36": the band of the one before

    return [c for i, c in enumerate(found)
            if not (_LEAVE_IT.search(c.words) and any(opposite(c, d) for d in found[:i]))]


def _clause_of(text: str, m: re.Match[str], out: Found) -> str | None:
    """The condition's clause after its marker, or None when the marker opens no condition ("check if it
    is online" asks; "si rarement" is "so"; a marker inside a condition already read)."""
    if _WHETHER.search(text[max(0, m.start() - 30):m.start()]):
        return None  # "check if it is online": a question
    if any(a <= m.start() < b for a, b in out.spans):
        return None
    word = m.group(0).lower()
    if word == "si" and not _SI_CLAUSE.match(text, m.end()):
        return None  # French/Spanish "si" as "so" ("si rarement", "si lento") or "yes": not a condition
    rest = text[m.end():]
    lead = re.match(r"\s*,\s*", rest)  # "es sei denn, ein Nachbar sitzt auf 11": the comma opens the clause
    end = _END.search(rest, lead.end() if lead else 0)
    return rest[:end.start()] if end else rest


def _if_so(text: str, m: re.Match[str], clause: str,
           span: tuple[int, int]) -> tuple[str | None, str, tuple[int, int]]:
    """"is their DNS empty? if so, put 9.9.9.9": the condition is the question just asked."""
    particle = _SO.match(clause)
    if not (_ANAPHORIC.match(clause) or particle is not None):
        return None, clause, span
    asked = _asked_before(text[:m.start()])
    if asked and particle is not None and not _ANAPHORIC.match(clause):
        clause = clause[:particle.end()]  # "if so switch it back on": the condition is "so"
        span = (m.start(), m.end() + len(clause))
    return asked, clause, span


def _leave_branch(rest: str, clause: str) -> int | None:
    """The length of a "leave it" branch after the clause ("…, déjalo como está"; "if not, leave it"), or None."""
    leave = _LEAVE_IT.match(rest[len(clause):])
    bare_not = re.match(r"\s*(not|nicht|no|non|pas)\b[\s,]*", clause)
    if bare_not is not None and _LEAVE_IT.match(clause[bare_not.end():]):  # "if not, leave it"
        return 0
    return leave.end() if leave is not None else None
