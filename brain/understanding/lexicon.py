"""Small multilingual concept lexicons for the explicit diagnostic and reset requests.

Why concepts rather than sentences: support agents word "run a speed test" a hundred ways ("how
fast is the line really", "Durchsatz messen", "mesurer la bande passante", "prueba de velocidad").
A list of whole phrasings only knows the wordings someone wrote down; here each operation is a
pair of meanings that must both be present close together — something to *measure* and a
*speed* to measure, a *path* and the *packets* that take it, a *reset* and the *factory* state
to return to — each meaning a short lexicon of stems in English, German, French and Spanish.
A single meaning on its own ("the line is fast", "the factory firmware", "the route is down")
is not a request.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

_I = re.IGNORECASE


def _lexicon(*stems: str) -> re.Pattern[str]:
    """One concept: any of ``stems`` starting at a word boundary (a stem ending in ``~`` must
    also end at one), e.g. ``measur`` matches "measure", "measuring", "measurement"."""
    parts = [re.escape(s[:-1]) + r"\b" if s.endswith("~") else re.escape(s) for s in stems]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")", _I)


# --- speed test: a MEASURE act on a SPEED quantity (or a compound noun naming the test itself)
SPEED_TEST_NOUN = re.compile(
    r"speed ?test|speed[- ]?check|(bandwidth|throughput|speed|performance|line[- ]rate) (test|measurement|check)|"
    r"(geschwindigkeits|bandbreiten|durchsatz|leistungs|tempo)(test|messung|prüfung|check)|"
    r"test (de )?(débit|vitesse|bande passante)|(prueba|test|medición)( de)? (la )?(velocidad|ancho de banda|"
    r"rendimiento|caudal)", _I)
SPEED = _lexicon(
    # en
    "speed~", "speeds~", "how fast", "how quick", "bandwidth", "throughput", "mbit", "mbps", "megabit", "line rate",
    "download and upload", "upload and download", "download/upload", "up- and download", "up and down speed",
    # de
    "geschwindigkeit", "wie schnell", "bandbreite", "durchsatz", "datenrate", "übertragungsrate",
    "up- und download", "download und upload",
    # fr
    "débit", "vitesse", "bande passante", "quelle vitesse", "montant et descendant",
    "montante et descendante",
    # es
    "velocidad", "qué tan rápid", "lo rápido", "ancho de banda", "caudal", "tasa de transferencia",
    "subida y bajada", "bajada y subida",
)
MEASURE = _lexicon(
    # en
    "measur", "test", "check", "gauge", "benchmark", "verify", "find out",
    # de
    "messen", "messung", "miss~", "misst", "gemessen", "prüf", "überprüf", "test", "ermittel",
    # fr
    "mesur", "vérifi", "contrôl", "test", "évalu",
    # es
    "mide~", "mida~", "midan~", "medir", "medición", "medicion", "prueba", "comprob", "comprueb", "verific",
    "test", "evalú",
)

# "measure the line" / "die Leitung durchmessen" / "mesurer la ligne": a strong measuring verb on the
# line itself is a speed test; a weak one ("check the line") may be a line diagnosis, so it does not count.
STRONG_MEASURE = _lexicon(
    "measur", "benchmark", "gauge", "messen", "miss~", "misst", "durchmess", "ausmess", "mesur", "mide~", "mídelo",
    "mida~", "medir", "medición",
)
LINE = _lexicon(
    "line~", "connection", "link~", "leitung", "anschluss", "verbindung", "ligne", "connexion", "línea", "linea~",
    "conexión", "conexion", "megas~", "mbit", "mbps", "mb/s",
)

# --- traceroute: the PATH that PACKETS take (or a hop list towards a target)
TRACEROUTE_NOUN = re.compile(
    r"trace ?route|\btracert\b|route (trace|tracing)|routenverfolgung|(tra[cç]age|trac(e|er|ing)) (de |de la |the )?"
    r"(la )?route|\btraz(ado|a|ar)\b.{0,12}\bruta", _I)
PATH = _lexicon(
    # en
    "path~", "paths~", "route~", "routes~", "hops~", "which way", "where the packets", "where packets",
    "where the traffic", "where traffic",
    # de
    "pfad", "route~", "weg der", "den weg", "welchen weg", "hops~", "wohin", "wo die pakete", "wo der verkehr",
    # fr
    "chemin", "route~", "trajet", "itinéraire", "sauts~", "par où", "où passent",
    # es
    "ruta~", "camino~", "trayecto", "recorrido", "saltos~", "por dónde", "por donde", "dónde pasan",
    # the routers on the way ("which routers do the packets pass")
    "which routers", "welche router", "quels routeurs", "par quels", "qué routers", "por qué routers",
)
# "where do packets get stuck", "wo bleiben die Pakete hängen", "où se perdent les paquets"
WHERE = _lexicon("where~", "wo~", "wohin", "où~", "dónde", "donde~")
PACKETS = _lexicon(
    "packet", "traffic~", "pakete", "datenverkehr", "verkehr~", "paquet", "trafic~", "paquete", "tráfico~",
    "trafico~",
)
FOLLOW = _lexicon(
    "trace", "follow", "show", "map~", "see~", "verfolg", "zeig", "nachvollzieh", "suivre", "suis~", "suivez",
    "tracer", "montre", "voir~", "seguir", "sigue", "traza", "ver~", "muestra", "mostrar", "rastre",
)
_HOPS_TO = re.compile(r"\b(hops?|sauts|saltos)\b.{0,30}\b(between|to|towards|vom|bis|zu|nach|entre|vers|jusqu|"
                      r"hasta|hacia)\b", _I)

# --- factory reset: a RESET act towards the FACTORY state (or a compound noun naming it)
FACTORY_RESET_NOUN = re.compile(
    r"factory[ _-]?(reset|default|settings)|\bwerks(einstellung|reset|zustand)\w*|auslieferungszustand|"
    r"(paramètres|réglages|configuration|état) (d['’]usine|usine)|reset usine|remise à zéro|"
    r"(valores|configuración|ajustes|estado) de fábrica|(reseteo|reset) de fábrica|hard[- ]reset|"
    r"\b(full|complete|total) reset|\breset (everything|completo|total)|réinitialisation (complète|totale)|"
    r"\b(komplett|vollständig|ganz)\w* zurück(zu)?setz|restablecimiento (completo|total)|"
    r"\b(wipe|wiping|erase)\b.{0,30}\b(everything|all (the |its )?settings|"
    r"(the |its )?(whole |entire )?config\w*)", _I)
RESET = _lexicon(
    # en
    "reset", "restor", "return", "revert", "roll back", "wipe", "wiping", "erase", "back to", "put back", "bring back",
    "set back", "back~",
    # de
    "zurücksetz", "zurückgesetzt", "zurückversetz", "zurückbring", "zurückstell", "zurück~", "versetz", "bringen",
    "bring~", "lösch", "platt mach",
    # fr
    "réinitialis", "reinitialis", "remettre", "remets", "remise", "restaur", "retour", "ramener", "effac",
    # es
    "restablec", "restablez", "restaur", "resete", "devolver", "devuelve", "volver", "vuelve", "borr", "deja~", "dejar",
    "pon~", "poner", "como nuevo",
)
FACTORY = _lexicon(
    "factory", "out of the box", "out-of-the-box", "as shipped", "as it shipped", "as delivered",
    "werkseinstell", "werkszustand", "werksreset", "werkseitig", "werksseitig", "auslieferungszustand",
    "lieferzustand", "ursprungszustand", "usine", "sortie de boîte", "sortie de la boîte", "shipping state",
    "shipped state", "état d'origine", "état initial",
    "fábrica", "fabrica~",
)
NEGATION = _lexicon(
    "don't", "do not", "dont~", "never", "without", "no need", "instead of", "rather than",
    "nicht", "kein", "ohne", "statt", "ne~", "n'", "pas de", "sans", "plutôt que", "au lieu de",
    "no~", "sin~", "nunca", "en lugar de", "en vez de",
)


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def near(text: str, a: re.Pattern[str], b: re.Pattern[str], window: int = 80) -> bool:
    """Both meanings occur within ``window`` characters of each other (distinct words).

    Linear in the number of matches (every pair was compared, so "reset reset …" took
    quadratic time): ``b``'s matches come in text order, so for each match of ``a`` the first
    ``b`` that does not end too early is the only one to check (and the next, if it is the same
    word)."""
    sa, sb = _spans(a, text), _spans(b, text)
    ends = [y1 for _, y1 in sb]
    for x0, x1 in sa:
        k = bisect_left(ends, x0 - window)
        for y0, y1 in sb[k:k + 2]:
            if max(x0, y0) - min(x1, y1) <= window and (x0, x1) != (y0, y1):
                return True
    return False


def negated_at(text: str, start: int) -> bool:
    """A negation word among the few words right before ``start``, in the same clause."""
    before = re.split(r"[,.;:!?¿¡—–\n]", text[max(0, start - 40):start])[-1]
    words = before.split()[-4:]
    return NEGATION.search(" ".join(words) + " ") is not None


def speed_test(text: str) -> bool:
    """A request to measure the line's speed (download/upload throughput)."""
    return (bool(SPEED_TEST_NOUN.search(text)) or near(text, MEASURE, SPEED)
            or near(text, STRONG_MEASURE, LINE, 40))


def traceroute(text: str, has_target: bool) -> bool:
    """A request to see the hops packets take; a bare "route"/"path" with a show verb counts only
    when a target host is named ("follow the route to example.com")."""
    if (TRACEROUTE_NOUN.search(text) or _HOPS_TO.search(text) or near(text, PATH, PACKETS, 40)
            or near(text, WHERE, PACKETS, 12)):
        return True
    return has_target and near(text, FOLLOW, PATH, 30)


def factory_reset(text: str) -> bool:
    """A request to return the gateway to its factory state, not negated ("without a factory reset",
    "do not reset it to factory settings")."""
    hits = [_verb_start(text, a) for a, _ in _spans(FACTORY_RESET_NOUN, text)]
    hits += _pair_starts([a for a, _ in _spans(RESET, text)], [b for b, _ in _spans(FACTORY, text)], 60)
    return any(not negated_at(text, h) for h in hits)


def _pair_starts(xs: list[int], ys: list[int], window: int) -> list[int]:
    """Every ``min(x, y)`` over pairs less than ``window`` apart — the earlier word of each — in
    linear time: an ``x`` is one when some ``y`` follows it within the window, and vice versa."""
    out = [x for x in xs if (k := bisect_left(ys, x)) < len(ys) and ys[k] - x <= window]
    out += [y for y in ys if (k := bisect_right(xs, y)) < len(xs) and xs[k] - y <= window]
    return sorted(set(out))


def _verb_start(text: str, start: int) -> int:
    """Where the clause's reset verb begins when one precedes the noun ("reset it to factory
    settings" starts at "reset"), so a negation before the verb is seen."""
    clause = re.split(r"[,.;:!?¿¡—–\n]", text[max(0, start - 40):start])[-1]
    m = RESET.search(clause)
    return start - len(clause) + m.start() if m else start


# "off and on again", "aus- und wieder ein", "éteindre et rallumer", "apagar y encender": one act.
OFF_AND_ON = re.compile(
    r"\b(turn|switch|power|shut)\w*\b[^.?!;]{0,20}?\boff\b[^.?!;]{0,6}\band\b[^.?!;]{0,10}?\b(back )?on\b|"
    r"\baus(zu)?-?\s*(und|&)\s*(wieder\s+)?(ein|an)(zu)?(schalt\w*|mach\w*|stell\w*)?\b|"
    r"\b(é|e)tein\w*\b[^.?!;]{0,20}?\b(et|puis)\b[^.?!;]{0,12}?\brallum\w*|"
    r"\bapag\w*\b[^.?!;]{0,20}?\b(y|e)\b[^.?!;]{0,20}?\b(encend\w*|prend\w*)|"
    r"\bdesenchuf\w*\b[^.?!;]{0,20}?\b(y|e)\b[^.?!;]{0,20}?\benchuf\w*|"
    r"\bunplug\w*\b[^.?!;]{0,20}?\band\b[^.?!;]{0,20}?\bplug\w*", _I)
