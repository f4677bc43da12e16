"""Whose gateways a request is about: this one, or others (a fleet slice, a building, a neighbourhood).

Why found from the words and not from the inventory: "every AX3000 in Lyon on 1.4.2 needs …" was
drafted as a change on the device the chat is about, because the fleet had no model "AX3000", so
the slice matcher (``brain.fleetplan``) saw nothing and the single-device path took the message.
A request that names *other* devices — a quantifier over gateways or a model, "these routers", "the
others", a model written in the plural — is a fleet request whatever the inventory holds; the
planner then drafts a campaign, or says what the fleet does have. Never a change on this device.

A building or a street named as *where the problem is* ("she's in a block of flats and the Wi-Fi is
bad") is context for this gateway; only a request to act on all of them ("plan the whole building",
"every flat", "for all the neighbours") is a joint plan.
"""

from __future__ import annotations

import re

from brain.understanding.request import Scope

_I = re.IGNORECASE
# "alles an dem Router" is everything on this one, never every router: "alle", not "alles"
_QUANT = (r"(all|every|each|alle[nm]?|sämtliche\w*|jede[mnrs]?|tou(te)?s( les)?|chaque|todos( los)?|"
          r"todas( las)?|cada)")
_GATEWAYS = (r"(devices|gateways?|routers?|boxe?s|modems?|onts?|cpes?|units|hubs?|ap[s]?|access points|"
             r"geräte\w*|boxen|router\w*|modems|appareils|routeurs?|passerelles?|box|equipos|dispositivos|"
             r"routers|módems|cajas|customers|kunden|clients|clientes|homes|households|haushalte|foyers|hogares)")
# A model as operators write it: capitals and digits, maybe hyphenated (AX3000, PX-7000, ONT-G240W, HG8020-L,
# FritzBox7590) — never a band ("5GHz") or a version ("1.4.2"), which start with a digit.
_MODEL = r"(?:(?=[A-Za-z0-9-]*\d)[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)"
# ... never a quantifier of time: "cada cuánto se comunica este router", "each time the box restarts", "jedes Mal"
_OF_TIME = (r"cu[áa]nt[oa]s?|vez|veces|d[íi]as?|horas?|rato|semanas?|mes(es)?|minutos?|segundos?|time|times|day|days|"
            r"hour|hours|minutes?|seconds?|week|weeks|mal|tag|stunde|minute|woche|fois|jours?|heures?|\d+")
_QUANT_GATEWAYS = re.compile(rf"(?<!\bat )\b{_QUANT}\b(?!\s+(her|his|their|my|your|ihre\w*|seine\w*|meine\w*|ses|"
                             rf"leurs?|mes|sus|mis|{_OF_TIME})\b)[^.?!;,]{{0,30}}?\b({_GATEWAYS})\b", _I)
_QUANT_MODEL = re.compile(rf"\b{_QUANT}\b[^.?!;,]{{0,20}}?(?<![\w-])({_MODEL})(?![\w-])", re.I)
# A model named with a quantifier anywhere in its sentence: "die ONT-G240W … bitte alle durchstarten",
# "los CGW-3400 … reiniciarlos todos", "how many PX-7000 are there"
_QUANT_WORD = re.compile(rf"\b({_QUANT}|how many|wie viele|combien|cuánt[oa]s|cuant[oa]s)\b", _I)
_PLURAL_MODEL = re.compile(rf"(?<![\w-])({_MODEL})(s|'s)\b(?!\s+(box|router|gateway)\b)")
_OTHERS = re.compile(r"\b(the other (ones|boxes|routers|gateways|customers|devices|homes)|the rest of (them|the fleet)|"
                     r"all of them|every one of them|the whole fleet|across the fleet|fleet-?wide|the fleet|"
                     r"die anderen (geräte|router|boxen|kunden)|alle anderen|die ganze flotte|"
                     r"les autres (box|routeurs|clients|appareils)|tout le parc|toute la flotte|le parc|"
                     r"los demás (routers|equipos|clientes)|los otros (routers|equipos|clientes)|toda la flota|"
                     r"el parque)\b", _I)
_THESE = re.compile(rf"\b(these|those|diese|jene|ces|estos|estas|esos|esas)\s+(\w+\s+)?({_GATEWAYS})\b", _I)
_COUNTED = re.compile(rf"\b(\d{{2,7}})\s+(\w+\s+)?({_GATEWAYS})\b", _I)
_FIRMWARE = re.compile(r"\b(?:on|auf|sur|en|with|mit|avec|con|running|firmware|fw|version|versión)\s+"
                       r"(?:firmware\s+|fw\s+|version\s+|v)?(?P<v>\d+(?:\.\d+){1,3}[\w-]*)", _I)
_PLACE = re.compile(r"\b(?:in|im|à|a|en|au|aux|near|bei|around)\s+(?P<p>[A-ZÄÖÜÉÈ][\w'-]{2,}(?:[ -][A-Z][\w'-]+)?)")
_NOT_PLACES = frozenset({"The", "Der", "Die", "Das", "Le", "La", "Les", "El", "Los", "Las", "Wi", "WLAN", "Ihrer",
                         "Their", "His", "Her", "Our", "Unserem", "Notre", "Nuestra"})
# A joint plan over the air of a building / neighbourhood: asked for all of them, not a complaint beside one.
_BUILDING = re.compile(r"\b(building|block of flats|apartment block|block|flats|apartments|gebäude\w*|wohnblock|"
                       r"mehrfamilienhaus|haus|wohnungen|immeuble|bâtiment|batiment|résidence|appartements|"
                       r"edificio|bloque|pisos|apartamentos)\b", _I)
_NEIGHBOURHOOD = re.compile(r"\b(neighbou?rhood|neighbou?rs|neighbou?ring (homes|houses|flats)|street|"
                            r"nachbarschaft|nachbarn|viertel|straße|quartier|voisinage|voisins|rue|barrio|vecindario|"
                            r"vecinos|calle)\b", _I)
_HOMES = (r"(flats?|homes?|apartments?|neighbou?rs|routers|box(es)?|devices|units|households|tenants|residents|"
          r"wohnungen|nachbarn|mieter|router|geräte|haushalte|appartements|voisins|logements|foyers|locataires|"
          r"pisos|vecinos|casas|equipos|hogares|inquilinos)")
_POSSESSIVE = r"(her|his|their|my|your|our|ihre\w*|seine\w*|meine\w*|unsere\w*|ses|leurs?|mes|nos|sus|mis|nuestr\w*)"
_GROUP_ACT = re.compile(rf"\b{_QUANT}\s+(?!{_POSSESSIVE}\b)(\w+\s+){{0,2}}?{_HOMES}\b|"
                        rf"\b({_QUANT}\s+(of them|zusammen|ensemble|juntos|auf|on|sur|en|im|in|mit|with|avec|con|"
                        r"sind|are|sont|están|have|haben|ont|tienen)|everyone|everybody|tout le monde|todo el mundo|"
                        r"whole|entire|across|throughout|together|jointly|for everyone|everyone'?s|tout l'|toute l'|"
                        r"ganze[nmrs]?|gesamte[nmrs]?|gemeinsam|für alle|tout l[ea]|entier\w*|ensemble|pour tous|"
                        r"tod[oa] el|tod[oa] la|entero|entera|conjunt\w*|para todos|plan(ne|ifie|ifica)?\w*|"
                        r"coordinat\w*|koordinier\w*|coordonn\w*|coordin\w*)\b", _I)


# "not on all the PX-7000", "no en todos", "nicht auf allen", "pas sur tous": the others ruled out
_NOT_ALL = re.compile(r"\b(not|no|nicht|pas|ni|never|nunca|jamais)\b\W+(\w+\W+)?$", _I)
# "on this one, and every CGW-3400 …", "hier und bei allen …", "sur celle-ci et …": this gateway as well
_THIS_TOO = re.compile(r"\b(this one|this (box|router|gateway|device)|on this|here|diese[nmr]? (hier|box|router)|"
                       r"hier|bei (ihm|ihr|diesem)|celle-ci|celui-ci|ce routeur|cette box|ici|este( router| equipo)?|"
                       r"aquí|en este)\b[^.;!?]{0,40}\b(and|und|et|y|as well|too|also|auch|aussi|también)\b", _I)
_QUANT_HOMES = re.compile(rf"\b{_QUANT}\s+(?!{_POSSESSIVE}\b)(\w+\s+){{0,2}}?{_HOMES}\b", _I)
# What a joint plan is about: the air the homes share, or their complaints about it.
_AIR = re.compile(r"\b(wi-?fi|wlan|wireless|funk\w*|channels?|kan[aä]l\w*|canal\w*|canaux|interfer\w*|interfér\w*|"
                  r"stör\w*|gên\w*|overlap\w*|überlapp\w*|chevauch\w*|solap\w*|signal\w*|complain\w*|"
                  r"beschwer\w*|plai(gn|n)\w*|quej\w*|slow|langsam|lent\w*|drop\w*|fighting|clash\w*|se pisan|"
                  r"terrible|schlecht\w*|mauvais\w*|malo|mala|coupures?|cortes?|abbr\w*|routers?|box|routeurs?|"
                  r"networks?|netz\w*|réseaux?|redes?)\b", _I)
_PLAN_VERB = re.compile(r"\b(plan\w*|coordinat\w*|koordinier\w*|coordonn\w*|coordin\w*)\b", _I)


# "just this one", "nur diesen hier", "seulement celle-ci", "solo este": this gateway, whatever else is said of others
# ("reboot just this one, the other CGW-3400s are fine" was read as every CGW-3400)
_ONLY_THIS = re.compile(r"\b(just|only)\s+(this|that)\s+(one|gateway|router|box|modem)\b|\bnur\s+(diese[nrs]?|den hier|"
                        r"das hier|hier)\b|\bseulement\s+(celle-ci|celui-ci|cette box|ce routeur)\b|"
                        r"\bs[oó]lo\s+(este|esta)\b", _I)


def find(text: str) -> Scope:
    """The scope of ``text`` (the matching text, bands canonical): this gateway when it is said to be only this one."""
    return Scope() if _ONLY_THIS.search(text) else _said_scope(text)


def _said_scope(text: str) -> Scope:
    """The scope the words name: a fleet slice, a building or neighbourhood, or this gateway."""
    spans: list[str] = []
    for rx in (_QUANT_GATEWAYS, _QUANT_MODEL, _OTHERS, _THESE, _COUNTED):
        m = rx.search(text)
        if m is not None and not _is_lan_clients(text, m) and not _NOT_ALL.search(
                text[max(0, m.start() - 12):m.start()]):
            spans.append(m.group(0))
    m = _PLURAL_MODEL.search(text)
    if m is not None:
        spans.append(m.group(0))
    for sentence in re.split(r"(?<=[.;!?])\s+", text):
        c = _FLEET_COUNT.search(sentence)
        if c is not None:
            spans.append(c.group(0))
        model = _model(sentence)
        q = _QUANT_WORD.search(sentence)
        if model and q and not re.search(r"\bat all\b", sentence, _I) and not _NOT_ALL.search(
                sentence[max(0, q.start() - 12):q.start()]):
            spans.append(f"{q.group(0)} … {model}")
    if spans:
        group = _group_scope(text)
        if group is not None:  # "every device in the building": the building's homes, not the fleet
            return group
        model = _model(text)
        fw = _FIRMWARE.search(text)
        place = next((p.group("p") for p in _PLACE.finditer(text) if p.group("p") not in _NOT_PLACES), None)
        return Scope(kind="fleet", model=model, firmware=fw.group("v") if fw else None, place=place,
                     all_devices=model is None and bool(re.search(rf"\b{_QUANT}\b", text, _I)),
                     words="; ".join(dict.fromkeys(spans)), this_too=_THIS_TOO.search(text) is not None)
    return _group_scope(text) or Scope()


# The building's own routers or neighbours as the subject, or interfering with each other: "les box de ce
# bâtiment se gênent", "los vecinos del mismo edificio se solapan", "the neighbours in this block clash".
_GROUP_SUBJECT = re.compile(
    r"\b(les|los|las|die|the|our|unsere|nos|nuestros)\s+(box|routeurs?|routers?|vecinos|voisins|nachbarn|neighbou?rs|"
    r"réseaux|redes|netze|networks|flats|homes|wohnungen|appartements|pisos|mieter|locataires|inquilinos)\b|"
    r"\b(each other|one another|gegenseitig|mutuellement|entre eux|entre sí|se chevauch\w*|se solap\w*|se gên\w*|"
    r"se interfier\w*|stören sich|überlappen sich|clash\w*|fighting|se pisan)\b", _I)


# A count over the fleet ("how many gateways do we have in Germany", "¿cuántos equipos tenemos con la 7.2.6?"),
# not over this home's clients ("how many devices are connected").
_FLEET_COUNT = re.compile(
    rf"\b(how many|number of|wie viele|anzahl|combien|nombre de|cuánt[oa]s|cuant[oa]s)\b\s+(\w+\s+){{0,2}}?"
    rf"{_GATEWAYS}\b(?=[^.?!]*\b(we have|do we have|have we got|in total|altogether|in the fleet|fleet|across|"
    r"haben wir|hat die flotte|insgesamt|gesamt|avons-nous|a-t-on|nous avons|au total|dans le parc|tenemos|"
    # "¿cuántos dispositivos hay en el 5 GHz?" counts this home's clients on a band, not the fleet
    r"hay en(?!\s+(?:el\s+|la\s+|su\s+|mi\s+)?(?:\d|wi-?fi|wlan|red|casa|banda|piso|lan)\w*)|"
    r"en total|en el parque|on firmware|with firmware|mit firmware|avec le firmware|con el firmware|con la|"
    r"in (germany|deutschland|france|frankreich|the uk|britain|spain|spanien)|en (france|allemagne|alemania|"
    r"francia|españa)|on \d+(\.\d+)+)\b)", _I)


def _group_scope(text: str) -> Scope | None:
    """A building or a neighbourhood, when a sentence that names it asks about all of its homes — not
    one that reports what happened there ("the old key's been shared round the whole street")."""
    for sentence in re.split(r"(?<=[.;!?])\s+", text):
        if not (_GROUP_ACT.search(sentence) or _GROUP_SUBJECT.search(sentence)):
            continue
        places = [p for p in re.split(r",\s+(?!\d)", sentence) if _BUILDING.search(p) or _NEIGHBOURHOOD.search(p)]
        if places and not _PLAN_VERB.search(sentence) and not _QUANT_HOMES.search(sentence) and not any(
                _AIR.search(p) for p in places) and not _asks_operation(sentence):
            continue  # "the old key went round the whole building": where something happened, not the air
        b, n = _BUILDING.search(sentence), _NEIGHBOURHOOD.search(sentence)
        if b is not None:
            return Scope(kind="building", words=b.group(0))
        if n is not None:
            return Scope(kind="neighbourhood", words=n.group(0))
    return None


def _asks_operation(sentence: str) -> bool:
    """The sentence asks for an operation ("für die ganze Straße die DNS-Server auf 9.9.9.9 stellen"): the
    place it names is whose gateways get it, not where something happened."""
    from brain.understanding.actions import parse

    return parse(_NEIGHBOURHOOD.sub(" ", _BUILDING.sub(" ", _GROUP_ACT.sub(" ", sentence)))) is not None


def _model(text: str) -> str | None:
    for m in re.finditer(rf"(?<![\w.-])({_MODEL})(?:s|'s)?(?![\w-])", text):
        tok = m.group(1)
        if not re.fullmatch(r"\d+(GHz|MHz)", tok, re.I) and not tok.upper().startswith(("GHZ", "MHZ")):
            return tok
    return None


def _is_lan_clients(text: str, m: re.Match[str]) -> bool:
    """"all devices in the house", "every device on the wifi", "all the kids' devices": the home's own
    LAN clients, not other gateways."""
    tail = text[m.end():m.end() + 40]
    return bool(re.search(r"^\s*(in (the|her|his|their|my|this) (house|home|flat|apartment)|on (the|her|his|their|this|"
                          r"my) (wi-?fi|wlan|network|lan)|connected|at home|im (haus|wlan|netz)|"
                          r"dans (la|sa|leur) (maison|wifi)|connectés|en (la|su) (casa|red|wifi)|conectad)",
                          tail, _I)) or bool(re.search(r"\b(kids|children|her|his|their|family|kinder|enfants|"
                                                       r"niños|hijos)'?s?\s*$", text[:m.start() + 10][-40:], _I))


# One other gateway, named by whose it is or as "the other" one: "the neighbour's router", "her mother's box",
# "the other gateway", "den Router vom Nachbarn", "la box du voisin", "el router del vecino".
_ONE_GATEWAY = r"(gateway|router|box|modem|ont|cpe|hub|routeur|passerelle|módem|equipo)"
_WHOSE = (r"(neighbou?r|mother|mum|mom|father|dad|parents|friend|sister|brother|son|daughter|grandma|grandpa|"
          r"landlord|aunt|uncle|cousin)")
_ANOTHER_GATEWAY = re.compile(
    rf"\b{_WHOSE}s?'s?\s+(\w+\s+)?{_ONE_GATEWAY}\b|"
    rf"\b(the other|another|a second|the second)\s+(\w+\s+)?{_ONE_GATEWAY}\b|"
    rf"\b{_ONE_GATEWAY}\s+(next door|of (the|her|his|their|my) {_WHOSE}s?)\b|"
    r"\b(router|box|modem)\w*\s+(vom|von der|des|der)\s+(nachbar\w*|mutter|vater|eltern|schwester|bruder|"
    r"freund\w*|oma|opa|vermieter\w*)\b|\b(nachbar\w*|eltern)[- ]?(router|box)\b|"
    r"\b(de[nrm]|die|das)\s+(anderen?|zweiten?)\s+(router|box|modem|gerät)\b|"
    r"\b(box|routeur|modem|passerelle)\s+(du|de la|des|de sa|de son)\s+(voisin\w*|mère|père|parents|sœur|frère|"
    r"ami\w*|propriétaire)\b|\b(l'autre|une autre|la deuxième)\s+(box|routeur|passerelle)\b|"
    r"\b(router|módem|equipo)\s+(del|de la|de su)\s+(vecin\w*|madre|padre|herman\w*|amig\w*|casero|suegr\w*)\b|"
    r"\b(el otro|otro|el segundo)\s+(router|módem|equipo)\b|"
    # ... or by whose it is alone: "for her and her neighbour", "beim Nachbarn", "chez le voisin", "para su vecino"
    rf"\b(for|and|to)\s+(her|his|their|the|my|our)\s+{_WHOSE}s?\b(?!'|\s+(is|was|has|says|said|complains?)\b)|"
    # ... or elliptically, the clause ending on whose it is: "reboot this one and the neighbour's"
    rf"\b(and|to|for)\s+(her|his|their|the|my|our)\s+{_WHOSE}s?'s?\s*(?=$|[,.;!?])|"
    rf"\b{_ONE_GATEWAY}\s+(at|in)\s+(her|his|their|the)\s+(office|work|workplace|shop|parents'?|holiday home|"
    r"second home|cottage|flat in)\b|"
    r"\b(beim|bei (der|dem|ihrem|seinem|ihrer|seiner)|für (den|die|ihren|seinen|ihre|seine))\s+nachbar\w*|"
    r"\b(chez|pour)\s+(le|la|son|sa|leur)\s+voisin\w*|\b(para|en casa de)\s+(el|la|su)\s+vecin\w*", _I)


def another_gateway(text: str) -> str | None:
    """The words naming one gateway other than this one, or ``None``."""
    m = _ANOTHER_GATEWAY.search(text)
    return m.group(0) if m is not None else None
