"""Keep passphrases out of the planner and out of storage: redact them from chat text.

Why: a subscriber's new Wi-Fi passphrase typed into the chat must reach the proposal (the
lifecycle writes it, masked everywhere it is shown) but nothing else — not the durable thread
checkpoint, not the event history, not the thread title, not the language model, not another
user reading the thread. :func:`redact` replaces each passphrase with a placeholder ``[secret:N]``
and returns the values separately; the chat service keeps them in process memory only, and the
planner resolves placeholders when it drafts. If the process restarts before the draft, the
placeholder cannot be resolved and the planner asks again. :func:`scrub_text` is the same
detector for text at rest (storage, the read API, migration 0007): secrets become ``[secret]``.

How it decides (recall first; a masked word costs readability, a leaked passphrase cannot be
taken back): a *keyword* (password / passphrase / passcode / PSK / Wi-Fi key … Passwort /
Kennwort / WLAN-Schlüssel … mot de passe / clé Wi-Fi / code wifi … contraseña / clave …) anchors
the search; around it:

* **after** the keyword, past qualifiers ("for the Wi-Fi", "du réseau", "del router") and
  connectors ("to", "is", "should be", ":", "auf", "ist", "en", "sera", "a", "será" …): a quoted
  string, or a token (and the plain words that continue it up to the end of the clause);
  "from X to Y" yields both;
* **before** the keyword: "use X as the new password", "X soll das neue WLAN-Passwort sein",
  "X sera le nouveau mot de passe", "pon X como contraseña";
* a **net** for other word orders: in the keyword's clause, a token a few words on that would
  pass the WPA2 rule (8–63 printable characters, or 64 hex) and has a digit or a symbol.

An unquoted token counts when it does not read like prose: a digit, a symbol or inner capitals
("Sommer2024!", "HarbourLights"); a plain word ("sunflower") counts only after an assigning
connector ("to", ":", "auf", "en", "a", "por"…), after a change cue earlier in the sentence ("new",
"change", "ändern", "nouveau", "cambiar"…), or when it ends the clause, and never when it is a
stop word ("the password is not working", "… is wrong", "… ist zu kurz"). A sentence without a
keyword is never touched ("rename the network to HomeNet2024" is an SSID, not a secret).
Measured on ``tests/brain/redact_corpus.py``: see ``tests/brain/test_redact_corpus.py``.

Why in ``core`` and not the planner: it depends on nothing but the standard
library, and migration 0007 scrubs rows already stored with it — a migration may import only the
store's own layer. ``brain.redact`` names it for the planner.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.kernel.jsontypes import Json

PLACEHOLDER_RE = re.compile(r"\[secret(?::\d+)?\]")
_PLACEHOLDER_PART = re.compile(r"\[secret", re.IGNORECASE)  # also a placeholder cut by punctuation stripping
MASK = "[secret]"
_I = re.IGNORECASE

# ---------------------------------------------------------------------------- keywords
# Strong keywords name a credential on their own; weak ones ("key", "code", "clé", "secret") only
# count with a value that passes the WPA2 rule and looks like a secret.
_STRONG = (
    r"(?:[\w!]+-)?\w*pass(?:[ -]?(?:words?|phrases?|codes?)|w[oö]rt(?:er)?|wd)"
    r"|(?:[\w!]+-)?\w*kennw[oö]rt(?:er)?"
    r"|(?:[\w!]+-)?\w*schl(?:ü|ue)ssel"
    r"|mots? de passe|mdp|pwd?|psk|contrase(?:ñ|n)as?|claves?"
    r"|(?:wi-?fi|wlan|wireless|network|security|wpa\d?|wep|router|access|zugangs)[ -]?(?:keys?|codes?|pass)"
    r"|cl(?:é|e)s?(?:[ -](?:wi-?fi|wpa\d?|wep|r(?:é|e)seau|de s(?:é|e)curit(?:é|e)|du wi-?fi|de la box))"
    r"|codes? (?:wi-?fi|wpa\d?|d'acc(?:è|e)s|de s(?:é|e)curit(?:é|e)|du wi-?fi)"
    r"|c(?:ó|o)digos? (?:wi-?fi|de acceso|de seguridad|de la red|del wi-?fi)"
)
_WEAK = r"keys?|codes?|cl(?:é|e)s?|c(?:ó|o)digos?|secret"
_KEYWORD_RE = re.compile(rf"(?<![\w\[])(?:(?P<strong>{_STRONG})|(?P<weak>{_WEAK}))(?![\w])", _I)
# The same keywords, found in linear time: ``_KEYWORD_RE`` tried its compound prefix
# ``(?:[\w!]+-)?\w*`` at every word start, so a run like "a!a!a!…" cost quadratic time. Here the
# compounds ("WLAN-Passwort", "Netzwerkschlüssel") are found by their core alone and their prefix is
# walked back afterwards (:func:`_keywords`), never past the previous keyword.
_COMPOUND = r"pass(?:[ -]?(?:words?|phrases?|codes?)|w[oö]rt(?:er)?|wd)|kennw[oö]rt(?:er)?|schl(?:ü|ue)ssel"
_PLAIN_STRONG = _STRONG[_STRONG.index("mots? de passe"):]  # the keywords without a compound prefix
_FIND_RE = re.compile(rf"(?<![\w\[])(?:(?P<strong>{_PLAIN_STRONG})|(?P<weak>{_WEAK}))(?![\w])"
                      rf"|(?P<core>{_COMPOUND})(?![\w])", _I)
_MAX_TEXT = 20_000  # far above a chat message (4,000): the shape scan stays bounded
_MAX_VALUE = 256  # a token longer than this is never a value (WPA2 allows 63; a quoted value 130)
_LOOKBACK = 600   # characters before a keyword that "X as the password" and the sentence's cue may use


@dataclass(frozen=True)
class _Kw:
    start: int
    end: int
    weak: bool


def _keywords(text: str) -> list[_Kw]:
    """Every keyword in ``text``, as ``_KEYWORD_RE.finditer`` would find them, in linear time."""
    out: list[_Kw] = []
    floor = 0
    for m in _FIND_RE.finditer(text):
        start = m.start()
        if m.group("core") is not None:
            i = start
            while i > floor and (text[i - 1].isalnum() or text[i - 1] == "_"):
                i -= 1
            if i > floor and text[i - 1] == "-":
                j = i - 1
                while j > floor and (text[j - 1].isalnum() or text[j - 1] in "_!"):
                    j -= 1
                if j < i - 1 and (j == 0 or not (text[j - 1].isalnum() or text[j - 1] in "_[")):
                    i = j
            if i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_["):
                continue  # glued to a word or a placeholder: not a keyword of its own
            start = i
        out.append(_Kw(start, m.end(), m.group("weak") is not None))
        floor = m.end()
    return out


def _is_keyword(token: str) -> bool:
    """The whole token is one keyword ("Passwort", "WLAN-Schlüssel")."""
    if len(token) > 80:
        return False
    kws = _keywords(token)
    return len(kws) == 1 and kws[0].start == 0 and kws[0].end == len(token)

_ART = (r"the|my|his|her|their|our|your|this|that|das|den|dem|die|des|mein(?:es|em|en)?|sein(?:es|em|en)?|"
        r"ihr(?:es|em|en)?|le|la|l'|ma|mon|sa|son|leur|el|mi|su|tu|nuestro|nuestra")
_PLACE = (r"wi-?fis?|wlans?|wireless(?: network)?|networks?|netzwerk(?:s|es)?|router|box|livebox|freebox|"
          r"fritz!?box|gateway|modem|internet|r(?:é|e)seau|red|enrutador|hotspot")
_QUALIFIER_RE = re.compile(
    rf"(?:\s+(?:for|of|on|to|des|der|vom|von|für|fürs|zum|du|de|del|pour|para)\s+(?:(?:{_ART})\s*)?"
    rf"(?:(?:home|guest|main|5\s?ghz|2[.,]4\s?ghz|new)\s+)?(?:{_PLACE})\b"
    rf"|\s+(?:wi-?fi|wlan|wpa\d?|du wi-?fi|del wi-?fi)\b)", _I)

# ---------------------------------------------------------------------------- connectors
_ASSIGN = {"to", "into", "auf", "en", "à", "a", "por", "par"}
_COPULA = {"is", "are", "was", "be", "being", "become", "becomes", "will", "ist", "sind", "war", "wird", "werden",
           "sein", "lautet", "lauten", "heißt", "heisst", "soll", "sollte", "muss", "est", "sera", "soit",
           "serait", "être", "devient", "était", "es", "sea", "será", "sería", "ser", "era", "queda", "quede"}
_FILLER = {"should", "would", "must", "shall", "needs", "need", "has", "have", "now", "then", "new", "changed",
           "change", "set", "updated", "update", "switched", "made", "please", "also", "jetzt", "nun", "neu",
           "neues", "geändert", "gesetzt", "bitte", "auch", "in", "zu", "von", "from", "as", "als", "comme",
           "como", "doit", "devrait", "maintenant", "désormais", "aussi", "changé", "mis", "debe", "debería",
           "ahora", "también", "cambiada", "puesta", "de",
           # "new" after the noun (Romance order: "contraseña nueva:", "mot de passe nouveau :")
           "nueva", "nuevo", "nouveau", "nouvel", "nouvelle"}
# "wanted"/"chosen" after the keyword ("gewünschtes WLAN-Passwort:", "clé WPA souhaitée =", "password chosen by
# the customer:") ties what follows to it like "new" does; an agent ("by the customer") may stand after it.
_CHOSEN = {"chosen", "wanted", "desired", "preferred", "choisi", "choisie", "souhaité", "souhaitée", "voulu",
           "voulue", "désiré", "désirée", "gewünscht", "gewünschte", "gewünschtes", "gewählt", "gewählte",
           "gewähltes", "deseada", "deseado", "elegida", "elegido", "preferida", "preferido", "escogida", "escogido"}
_FILLER |= _CHOSEN | {"devra", "deberá"}
_COPULA |= {"devenir", "werde"}
_CONNECTORS = _ASSIGN | _COPULA | _FILLER
# A modal or "become" after the keyword says the value is a *new* one, as a cue before it does ("the wifi
# password should become the red kite circles", "muss … werden", "doit devenir", "ha de ser").
_CHANGE_WORDS = {"should", "must", "shall", "will", "become", "becomes", "needs", "soll", "sollte", "muss", "wird",
                 "werden", "werde", "doit", "devrait", "devra", "devenir", "devient", "sera", "soit", "debe",
                 "debería", "deberá", "será", "sea"} | _CHOSEN
_MODAL_RE = re.compile(r"\s+(?:ha|han|habrá|tiene|tienen|tendrá|hay)\s+(?:de|que)(?=\s)", _I)
_AGENT_RE = re.compile(rf"\s+(?:by|von|par|por)\s+(?:(?:{_ART}|der|dem|los|las)\s+)?[\w'’-]+(?=\s*[:=])", _I)
_SYMBOL_CONN_RE = re.compile(r"\s*(?:[:=]+|->|=>|→|—|–)\s*")
_WORD_CONN_RE = re.compile(r"\s+([\w'’àâäçéèêëîïôöûüñ]+)(?=\s|[:=]|$)", _I)
_APOS_S_RE = re.compile(r"['’]s(?=\s)", _I)

# Words before a keyword that tie a value to it ("X as the password", "X soll … sein").
_BEFORE_CONN = {"as", "als", "comme", "como", "is", "ist", "est", "es", "be", "soll", "should", "will", "sera",
                "será", "sea", "wird", "for", "für", "para", "pour", "become", "becomes", "devient", "shall",
                "must", "to", "would", "sein", "ser", "être"}
_BEFORE_ART = set(_ART.replace("(?:es|em|en)?", "").split("|")) | {
    "new", "neue", "neues", "neuen", "neuer", "nouveau", "nouvel", "nouvelle", "nuevo", "nueva", "a", "an", "ein",
    "eine", "einen", "un", "une", "una", "wifi", "wi-fi", "wlan", "wireless", "network", "router", "home",
    "security", "wpa", "wpa2", "meines", "seines", "ihres", "meinen", "seinen", "ihren"}
_VERBS = {"use", "make", "set", "take", "put", "choose", "pick", "nimm", "nehmen", "nehmt", "verwende",
          "verwenden", "benutze", "benutzen", "setze", "setz", "setzen", "wähle", "utilise", "utiliser",
          "utilisez", "mets", "mettre", "mettez", "prends", "choisis", "usa", "usar", "pon", "poner", "utiliza",
          "utilizar", "elige", "fais", "haz", "mach", "machen"}
_CUE_RE = re.compile(r"\b(?:new|change\w*|set|sets|setting|update\w*|make|use|neu\w*|änder\w*|aender\w*|setz\w*|"
                     r"stell\w*|nouve\w*|nouvel|chang\w*|mett\w*|modifi\w*|remplac\w*|nuev\w*|cambi\w*|pon\w*|"
                     r"establec\w*|actualiz\w*)\b", _I)

# ---------------------------------------------------------------------------- values
_OPEN_CLOSE = {'"': '"“”', "'": "'’‘", "“": "”\"“", "”": "”\"", "‘": "’'", "’": "’'", "„": "“”\"", "«": "»",
               "»": "«»", "‚": "‘’'", "`": "`"}
_TRAIL = ".,;:?)]}\"'“”’»"
# Words that end a multi-word value or are never a value themselves.
_EXT_STOP = {
    "and", "or", "but", "so", "then", "please", "thanks", "thank", "because", "since", "when", "if", "until",
    "today", "tonight", "now", "asap", "instead", "too", "also",
    "und", "oder", "aber", "dann", "bitte", "danke", "weil", "für", "mit", "bei", "von", "heute", "jetzt",
    "sofort", "ändern", "aendern", "setzen", "stellen", "umstellen", "machen", "sein", "werden", "lauten",
    "ändert", "geändert", "et", "ou", "mais", "puis", "svp", "merci", "parce",
    "aujourd'hui", "maintenant", "changer", "mettre", "s'il", "y", "o", "pero", "luego", "gracias", "porque",
    "hoy", "ahora", "cambiar", "poner", "favor", "por", "to", "into", "auf", "en", "à", "a", "par"}
# A preposition ends a multi-word value when an article follows ("… to sunflower for the customer";
# "… to zebra crossing at dawn" stays whole).
_PREP = {"for", "on", "in", "at", "with", "by", "from", "für", "mit", "bei", "von", "im", "am", "pour", "avec",
         "sur", "dans", "para", "con"}
_ARTICLES = set(_ART.split("|")) | {"a", "an", "ein", "eine", "einen", "einem", "un", "une", "una", "all", "both",
                                     "each", "every", "les", "los", "las", "beide", "tous", "todos", "im", "am"}
# Never the first word of a value, whatever the connector ("change it to something stronger").
_FUNCTION = _EXT_STOP | _CONNECTORS | {
    "a", "an", "the", "it", "its", "it's", "this", "that", "these", "those", "his", "her", "their", "our", "my",
    "your", "not", "no", "something", "anything", "nothing", "whatever", "what", "which", "who", "one", "another",
    "same", "different", "default", "old", "stronger", "better", "longer", "random", "there", "here", "how", "why",
    "where", "der", "die", "das", "den", "dem", "ein", "eine", "einen", "er", "nicht", "kein", "keine", "etwas",
    "was", "welches", "dass", "da", "hier", "dort", "le", "la", "les", "l", "un", "une", "des", "du", "il", "elle",
    "ce", "cet", "cette", "ne", "pas", "non", "quelque", "chose", "quoi", "que", "qui", "mon", "ton", "son", "ma",
    "sa", "notre", "votre", "leur", "el", "los", "las", "lo", "unos", "unas", "del", "ni", "algo", "qué", "mi",
    "tu", "su", "nuestra", "otro", "otra", "autre", "andere", "anderes", "neues", "nouveau", "nueva", "factory",
    "werkseinstellung", "werkseinstellungen", "usine", "fábrica", "fabrica"}
# A weak keyword after one of these is not a credential ("error code", "status code", "zip code").
_NOT_CREDENTIAL = {"error", "fault", "status", "response", "reason", "exit", "return", "http", "qr", "zip", "post",
                   "postal", "area", "country", "promo", "discount", "product", "source", "fehler", "erreur",
                   "error-code", "de"}
# Never a value after a copula or at the end of a clause ("the password is wrong / ist zu kurz").
_STOP = _FUNCTION | {
    "still", "just", "only", "very", "really", "definitely", "probably", "maybe", "always", "never", "already",
    "wrong", "incorrect", "correct", "right", "invalid", "expired", "locked", "blocked", "forgotten", "lost",
    "missing", "empty", "blank", "unknown", "weak", "strong", "short", "long", "reset", "working", "broken",
    "fine", "ok", "okay", "been", "required", "needed", "case-sensitive", "sensitive", "printed", "written",
    "shown", "off", "of", "secure", "safe", "insecure", "unsafe", "accepted", "rejected", "enabled", "disabled",
    "active", "yesterday", "tomorrow", "common", "easy", "simple", "hard", "complicated", "fixed", "hidden",
    "visible", "shared", "known", "used", "stored", "saved", "sent", "requested", "needs", "doesn't", "don't",
    "isn't", "can't", "won't", "did", "does", "do", "policy", "rules", "sticker", "label", "changed", "updated",
    "falsch", "richtig", "ungültig", "abgelaufen", "gesperrt", "vergessen", "verloren", "leer", "noch", "schon",
    "immer", "nie", "sehr", "alt", "alte", "altes", "gleich", "gleiche", "gleichen", "selbe", "selben",
    "anders", "zurückgesetzt", "sicher", "unsicher",
    "schwach", "stark", "kurz", "lang", "korrekt", "funktioniert", "geht", "klappt", "einfach", "unbekannt",
    "plus", "faux", "fausse", "incorrecte", "correcte", "invalide", "expiré", "bloqué", "oublié", "perdu", "vide",
    "trop", "encore", "déjà", "toujours", "jamais", "très", "ancien", "ancienne", "même", "différent",
    "réinitialisé", "quand", "si", "sécurisé", "faible", "fort", "court", "bon", "mauvais", "fonctionne",
    "marche", "incorrecta", "incorrecto", "correcta", "correcto", "inválida", "caducada", "bloqueada",
    "olvidada", "perdida", "vacía", "muy", "demasiado", "todavía", "ya", "siempre", "nunca", "vieja", "antigua",
    "misma", "mismo", "diferente", "segura", "débil", "fuerte", "corta", "larga", "buena", "mala", "sin", "está",
    "funciona",
    # a password that stays as it is, or is compared ("soll das alte bleiben", "tiene que ser más segura")
    "bleiben", "bleibt", "stay", "stays", "remain", "remains", "rester", "reste", "seguir", "sigue", "más", "menos",
    "moins", "mehr", "weniger", "more", "less", "distinta", "distinto", "seguro", "largo", "corto",
    # when, not what ("sera changé demain")
    "demain", "mañana", "morgen", "gestern", "ayer", "hier"}
_EXCLUDE_RE = re.compile(
    r"^(?:\d{1,3}(?:\.\d{1,3}){3}(?:/\d+)?"                      # IPv4
    r"|(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}"                         # MAC
    r"|v?\d+(?:\.\d+){1,3}\w*"                                   # version
    r"|https?://\S+|\S+@\S+\.\w+"                                # URL, e-mail
    r"|[0-9A-F]{6}-[\w]+-[\w]+"                                  # device id (OUI-product-serial)
    r"|(?:wpa\d?|wep|sae|owe)(?:[-/]\w+)*"                       # security modes
    r"|\d+(?:[.,]\d+)?\s?(?:ghz|mhz|mbps|gbps|dbm|ms|%)"          # measurements
    r")$", _I)
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_WORDS = 8
_NET_WINDOW = 5


def _clean(token: str) -> str:
    """A token without sentence punctuation around it ("!" stays: passphrases end with it)."""
    token = token.lstrip("(")
    while token and token[-1] in _TRAIL:
        token = token[:-1]
    return token


def looks_secret(token: str) -> bool:
    """Does not read like prose: a digit, a symbol (a hyphen or apostrophe between letters does
    not count: "case-sensitive", "can't"), or a capital after a lower-case letter."""
    if not token or _PLACEHOLDER_PART.search(token):
        return False
    if any(c.isdigit() for c in token):
        return True
    if re.search(r"[^\w\s'’-]|[-'’](?!\w)|(?<!\w)[-'’]|_", token):
        return True
    return bool(re.search(r"[a-zà-ÿ][A-ZÀ-Þ]", token))


def passes_wpa_rule(value: str) -> bool:
    """What a WPA2 device accepts as a passphrase: 8–63 printable ASCII, or 64 hex digits."""
    return bool(_HEX64_RE.match(value)) or (8 <= len(value) <= 63 and all(32 <= ord(c) < 127 for c in value))


def _is_candidate(token: str, *, weak: bool) -> bool:
    if len(token) > _MAX_VALUE:
        return False
    t = _clean(token)
    if not t or _PLACEHOLDER_PART.search(t) or t.lower() in _STOP or _EXCLUDE_RE.match(t) or _is_keyword(t):
        return False
    if weak:
        return looks_secret(t) and (passes_wpa_rule(t) or len(t) >= 8)
    return len(t) >= 4 and looks_secret(t)


def _is_plain_value(token: str, stop: frozenset[str] | set[str] = _FUNCTION) -> bool:
    if len(token) > _MAX_VALUE:
        return False
    t = _clean(token)
    return (len(t) >= 4 and t.lower() not in stop and not _PLACEHOLDER_PART.search(t)
            and not _EXCLUDE_RE.match(t) and not _is_keyword(t))


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    value: str


_CLOSER_RE = {o: re.compile("[" + re.escape(c) + "]") for o, c in _OPEN_CLOSE.items()}
_TOKEN_RE = re.compile(r"\S+")


class _Tok:
    """A whitespace-separated token (or the part of one after/before a keyword), shaped like the
    ``re.Match`` the scanners used to take."""

    __slots__ = ("_end", "_start", "_text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self._start, self._end = text, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _n: int = 0) -> str:
        return self._text[self._start:self._end]


class _Doc:
    """``text`` tokenised once, so that every keyword reads its neighbouring tokens by index
    instead of re-scanning the text from its start (which made many keywords quadratic)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.ends: list[int] = []
        for m in _TOKEN_RE.finditer(text):
            self.starts.append(m.start())
            self.ends.append(m.end())

    def after(self, pos: int, n: int) -> list[_Tok]:
        """Up to ``n`` tokens from ``pos`` on (the rest of a token ``pos`` falls inside first)."""
        i = bisect_right(self.starts, pos)
        out: list[_Tok] = []
        if i > 0 and self.ends[i - 1] > pos:
            out.append(_Tok(self.text, pos, self.ends[i - 1]))
        for k in range(i, min(len(self.starts), i + n - len(out))):
            out.append(_Tok(self.text, self.starts[k], self.ends[k]))
        return out

    def before(self, pos: int, n: int) -> _Before:
        """Up to ``n`` tokens before ``pos`` (a token cut at ``pos`` last), in text order."""
        return _Before(self, pos, n)


class _Before:
    """The tokens before a position, made only when read (most keywords read one or two)."""

    __slots__ = ("_doc", "_first", "_len", "_pos")

    def __init__(self, doc: _Doc, pos: int, n: int) -> None:
        i = bisect_left(doc.starts, pos)
        self._doc, self._pos, self._first = doc, pos, max(0, i - n)
        self._len = i - self._first

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __getitem__(self, k: int) -> _Tok:
        if k < 0:
            k += self._len
        if not 0 <= k < self._len:
            raise IndexError(k)
        d = self._doc
        return _Tok(d.text, d.starts[self._first + k], min(d.ends[self._first + k], self._pos))

    def span(self, lo: int, hi: int) -> list[_Tok]:
        return [self[k] for k in range(max(0, lo), min(hi, self._len))]


# ---------------------------------------------------------------------------- scanning
def _quoted_at(text: str, pos: int) -> _Span | None:
    """A quoted string starting at ``pos`` (any of " ' “ „ « ‘ …), whole span incl. quotes."""
    if pos >= len(text) or text[pos] not in _OPEN_CLOSE:
        return None
    m = _CLOSER_RE[text[pos]].search(text, pos + 1, min(len(text), pos + 131))
    if m is None:
        return None
    end = m.start()
    inner = text[pos + 1:end].strip()
    if not inner or _PLACEHOLDER_PART.search(inner):
        return None
    return _Span(pos, end + 1, inner)


def _skip_connectors(text: str, pos: int) -> tuple[int, set[str]]:
    """Skip qualifiers and connector words after a keyword; returns (position, kinds seen)."""
    seen: set[str] = set()
    for _ in range(8):
        m = _QUALIFIER_RE.match(text, pos)
        if m:
            pos = m.end()
            continue
        m = _APOS_S_RE.match(text, pos)
        if m:
            pos = m.end()
            seen.add("copula")
            continue
        m = _SYMBOL_CONN_RE.match(text, pos)
        if m and m.group(0).strip():
            pos = m.end()
            seen.add("assign")
            if m.group(0).strip()[:1] in ":=":
                seen.add("colon")
            continue
        m = _MODAL_RE.match(text, pos)
        if m:
            pos = m.end()
            seen |= {"filler", "change"}
            continue
        m = _WORD_CONN_RE.match(text, pos)
        if m and m.group(1).lower() in _CONNECTORS and not (m.group(1).lower() == "a" and seen & {"assign", "copula"}):
            # ("a" after "to" or "is" is the English article a phrase begins with, not Spanish "a")
            w = m.group(1).lower()
            seen.add("assign" if w in _ASSIGN else "copula" if w in _COPULA else "filler")
            if w in _CHANGE_WORDS:
                seen.add("change")
            pos = m.end()
            if w in _CHOSEN and (agent := _AGENT_RE.match(text, pos)):
                pos = agent.end()
            continue
        break
    return pos, seen


def _tokens_from(doc: _Doc, pos: int) -> list[_Tok]:
    """The whitespace-separated tokens from ``pos`` to the end of the sentence (at most a few)."""
    out: list[_Tok] = []
    for m in doc.after(pos, _MAX_WORDS + 2):
        out.append(m)
        w = m.group(0)
        if w[-1] in ".!?;" and not looks_secret(w[:-1]):
            break
    return out


def _extend(text: str, toks: list[_Tok]) -> _Span:
    """First token plus the plain words that continue it to the end of the clause."""
    first = toks[0]
    end, words = first.start() + len(first.group(0).rstrip(_TRAIL)), 1
    last = first.group(0)
    for n, m in enumerate(toks[1:], start=2):
        w = m.group(0)
        nxt = toks[n].group(0).lower() if n < len(toks) else ""
        if (_clean(w).lower() in _PREP and (nxt in _ARTICLES or not nxt)) and words >= 1:
            break
        if (joined := _join_to_end(text, toks, n - 1, last)) is not None:
            end, words = joined[0], words + joined[1]
            break
        if (words >= _MAX_WORDS or last[-1] in ",;.!?:" or _clean(w).lower() in _EXT_STOP
                or not w[0].isalnum() or _is_keyword(_clean(w)) or _PLACEHOLDER_PART.search(w)):
            break
        end, words, last = m.start() + len(w.rstrip(_TRAIL)), words + 1, w
    start = first.start() + (1 if first.group(0).startswith("(") else 0)
    if text[end - 1:end] == "!" and words == 1 and not looks_secret(text[start:end - 1]) and end >= len(text.rstrip()):
        end -= 1  # "set it to sunflower!" — the "!" is the sentence's
    return _Span(start, end, text[start:end])


_JOIN = frozenset({"and", "und", "et", "y", "or", "oder", "ou", "o", "&"})
_JOINED_MAX = 3
# Words after "and" that are the agent's next request or a courtesy, never a value's end ("… and reboot it").
_NOT_JOINED = frozenset({
    "reboot", "restart", "reset", "apply", "save", "check", "test", "send", "tell", "call", "confirm", "let",
    "starte", "starten", "neustarten", "prüfe", "speichern", "redémarre", "redémarrer", "vérifie", "envoie",
    "reinicia", "reiniciar", "comprueba", "envía", "guarda"})


def _join_to_end(text: str, toks: list[_Tok], at: int, last: str) -> tuple[int, int] | None:
    """Where the value ends, and how many words it gains, when ``toks[at]`` is a conjunction joining the rest
    of the sentence to it ("… copper bells and rain"); None when it starts a new clause."""
    if _clean(toks[at].group(0)).lower() not in _JOIN or last[-1] in ",;.!?:" or not _joined(text, toks, at):
        return None
    tail = toks[-1]
    return tail.start() + len(tail.group(0).rstrip(_TRAIL)), len(toks) - at


def _joined(text: str, toks: list[_Tok], at: int) -> bool:
    """Whether the conjunction ``toks[at]`` joins words to a value rather than a new clause: after it stand
    one to three plain words (no function word, verb of the next request or courtesy) that end the
    sentence ("harbour lights and fog", "Salz und Pfeffer", "pan con tomate y aceite")."""
    rest = toks[at + 1:]
    ends = bool(rest) and (rest[-1].group(0)[-1] in ".!?;" or rest[-1].end() >= len(text.rstrip()))
    return ends and _plain_tail(rest)


def _plain_tail(rest: Sequence[_Tok] | Sequence[re.Match[str]]) -> bool:
    """One to three plain words: what a conjunction may join to a value at the end of its clause."""
    if not 1 <= len(rest) <= _JOINED_MAX:
        return False
    for m in rest:
        w = m.group(0)
        t = _clean(w).lower()
        if (len(t) < 2 or not w[0].isalnum() or t in _STOP or t in _NOT_JOINED or t in _AFTERWORDS or _is_keyword(t)
                or _PLACEHOLDER_PART.search(w) or (m is not rest[-1] and w[-1] in ",;.!?:")):
            return False
    return True


def _ends_clause(toks: list[_Tok]) -> bool:
    first = toks[0].group(0)
    return (len(toks) == 1 or first[-1] in ",;.!?:"
            or _clean(toks[1].group(0)).lower() in _EXT_STOP | _PREP)


def _after(doc: _Doc, at: int, anchor: int, weak: bool) -> list[_Span]:
    """Values after a keyword ending at ``at`` (which starts at ``anchor``), and the values
    chained after the first ("… from X to Y")."""
    out: list[_Span] = []
    span = _after_one(doc, at, anchor, weak, chained=False)
    while span is not None:  # a loop, not recursion: a long "to X to Y to …" chain is linear
        out.append(span)
        span = _after_one(doc, span.end, anchor, weak, chained=True)
    return out


def _after_one(doc: _Doc, at: int, anchor: int, weak: bool, chained: bool) -> _Span | None:
    text = doc.text
    pos, seen = _skip_connectors(text, at)
    if chained and "assign" not in seen:
        return None
    if pos < len(text) and text[pos] in ",.;!?)":
        return None
    while pos < len(text) and text[pos].isspace():
        pos += 1
    quoted = _quoted_at(text, pos)
    span: _Span | None = None
    if quoted is not None:
        span = quoted if seen or not weak else (quoted if passes_wpa_rule(quoted.value) else None)
    else:
        toks = _tokens_from(doc, pos)
        if not toks or toks[0].start() != pos:
            return None
        first = toks[0].group(0)
        if _is_candidate(first, weak=weak) and (seen or looks_secret(_clean(first))):
            span = _extend(text, toks) if not weak else _Span(pos, pos + len(_clean(first)), _clean(first))
        elif not weak and seen and _is_plain_value(first):
            cue = bool(_CUE_RE.search(_sentence_before(text, anchor)))
            if "assign" in seen or (_is_plain_value(first, _STOP) and (
                    cue or ("copula" in seen and _ends_clause(toks)))):
                span = _extend(text, toks)
        if span is None and not weak:
            span = _phrase(doc, toks, pos, seen, anchor)
    return span


def _phrase(doc: _Doc, toks: list[_Tok], pos: int, seen: set[str], anchor: int) -> _Span | None:
    """A value whose first word is no value on its own, after a strong keyword: a phrase that begins
    with an article after a copula or an assigning word ("is the …", "to the …", "auf die …";
    :func:`_article_phrase`), or the rest of the clause after a colon."""
    if seen & {"copula", "assign"} and (span := _article_phrase(doc, toks, anchor, "change" in seen)) is not None:
        return span
    if "colon" not in seen:
        return None
    # "new Wi-Fi password: the green apple falls far" — after a strong keyword and a colon the
    # rest of the clause is the value, whatever its words (recall first: it is masked, and an
    # unquoted phrase is then asked for again in quotes, see :func:`settle`)
    text = doc.text
    end = _CLAUSE_END.search(text, pos)
    stop = end.start() if end else len(text)
    if text[pos:stop].strip() and not _PLACEHOLDER_PART.search(text[pos:stop]):
        return _Span(pos, stop, text[pos:stop].rstrip())
    return None


# Articles a phrase-shaped passphrase may begin with ("… is the quick brown fox", "… ist die alte Mühle").
_LEAD_ARTICLES = frozenset({"the", "a", "an", "der", "die", "das", "ein", "eine", "le", "la", "les", "un", "une",
                            "el", "los", "las", "una"})
_PHRASE_MIN_WORDS = 3  # the article and two more: "the password is the problem" stays readable


def _article_phrase(doc: _Doc, toks: list[_Tok], anchor: int, change: bool = False) -> _Span | None:
    """A new passphrase said as a phrase that begins with an article, after a copula: "her new wifi
    password is the quick brown fox", "su nueva contraseña es el perro ladra". Only where the sentence
    asks for a change (a cue: new, change, set … before the keyword, or ``change``: a modal or "become"
    after it) and the article is followed by a plain word that is never a description ("the same", "the
    one on the sticker", "the old one" stay readable)."""
    if len(toks) < _PHRASE_MIN_WORDS or _clean(toks[0].group(0)).lower() not in _LEAD_ARTICLES:
        return None
    if toks[0].group(0)[-1] in ",;.!?:" or not _opens_phrase(toks):
        return None
    if not change and not _CUE_RE.search(_sentence_before(doc.text, anchor)):
        return None
    span = _extend(doc.text, toks)
    words = [_clean(w).lower() for w in span.value.split()]
    # a phrase ending in "one", "default", "bleiben" describes or keeps a password ("the old router default")
    return span if len(words) >= _PHRASE_MIN_WORDS and words[-1] not in _DESCRIBED_END else None


# "the old one", "the top one", "l'ancien", "la de arriba": a phrase ending in "one" points at a password
_ONE = frozenset({"one", "ones", "einer", "eins", "celui", "celle", "uno"})
_DESCRIBED_END = _ONE | {"default", "defaults", "standard", "werkseinstellung", "usine", "fábrica", "fabrica",
                         "bleiben", "bleibt", "stay", "stays", "remain", "remains", "rester", "reste", "seguir",
                         "sigue"}
# "old" describes ("the old one", "das alte") — unless a noun follows that is the phrase's ("die alte Mühle am Bach")
_OLD = frozenset({"old", "alt", "alte", "altes", "alten", "ancien", "ancienne", "vieux", "vieille", "viejo",
                  "vieja", "antiguo", "antigua"})


def _opens_phrase(toks: list[_Tok]) -> bool:
    """Whether the words after the article begin a phrase: a plain word (three letters do: "the red kite"),
    never a possessive ("to the customer's usual one": whose, not what) — or "old" and then such a word
    that is no possessive and no "one"."""
    def plain(tok: _Tok) -> bool:
        t = _clean(tok.group(0))
        return (len(t) >= 3 and t.lower() not in _STOP and not _EXCLUDE_RE.match(t) and not _is_keyword(t)
                and not _PLACEHOLDER_PART.search(t) and not t.lower().endswith(("'s", "’s")))
    second = _clean(toks[1].group(0)).lower()
    if second in _OLD and toks[1].group(0)[-1] not in ",;.!?:":
        return plain(toks[2]) and _clean(toks[2].group(0)).lower() not in _ONE
    return plain(toks[1])


_CLAUSE_END = re.compile(r"[.;!?\n](?=\s|$)")
# Words that follow a passphrase in chat without being part of it ("tiger88 haha", "… cheers mate").
_AFTERWORDS = frozenset({
    "lmao", "lmfao", "rofl", "jk", "haha", "hehe", "lol", "xd", "ptdr", "mdr", "jeje", "ahah",
    "thanks", "thank", "you", "thx", "ty", "cheers", "mate", "hahaha", "xD", ":)", "pls",
    "plz", "please", "ok", "okay", "k", "cool", "great", "bye", "danke", "dir", "bitte", "schön", "vielen",
    "dank", "super", "merci", "bcp", "beaucoup", "svp", "stp", "bisou", "gracias", "jaja", "jajaja", "porfa",
    "vale", "genial", "saludos",
})
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"), ("„", "“"), ("«", "»"), ("‘", "’"), ("« ", " »"))


def settle(value: str, text: str) -> str | None:
    """The passphrase a found ``value`` stands for, or ``None`` when it is unclear. Quoted in ``text``:
    exactly the quoted text. Unquoted: one token, after the chat words that trail it ("Copper-Lantern-4471
    cheers mate" → "Copper-Lantern-4471"); several words are never guessed into one passphrase ("green
    tractor on the hill" is asked again, in quotes)."""
    if any(f"{a}{value}{b}" in text for a, b in _QUOTES):
        return value
    words = value.split()
    while len(words) > 1 and words[-1].lower().strip(".,!?") in _AFTERWORDS:
        words.pop()
    if len(words) > 1 and looks_secret(words[0]) and words[1].lower().strip(".,!?") in _AFTERWORDS:
        return words[0]  # "Cobalt-Wren-Meadow-12 lmao she'll never remember it": the chat starts at "lmao"
    return words[0] if len(words) == 1 else None


def _sentence_before(text: str, pos: int) -> str:
    """The sentence up to ``pos`` (at most ``_LOOKBACK`` characters of it)."""
    lo = max(0, pos - _LOOKBACK)
    cut = max(text.rfind(". ", lo, pos), text.rfind("! ", lo, pos), text.rfind("? ", lo, pos),
              text.rfind("\n", lo, pos), lo - 1)
    return text[cut + 1:pos]


def _before(doc: _Doc, kw: _Kw, weak: bool) -> list[_Span]:
    """A value before the keyword: "use X as the new password", "X soll das neue Passwort sein"."""
    text = doc.text
    toks = doc.before(kw.start, 3 * _MAX_WORDS + 8)
    i = len(toks) - 1
    while i >= 0 and toks[i].group(0).lower() in _BEFORE_ART:
        i -= 1
    conn = 0
    while i >= 0 and toks[i].group(0).lower() in _BEFORE_CONN:
        i, conn = i - 1, conn + 1
    if i < 0:
        return []
    tok = toks[i]
    word = tok.group(0)
    if len(word) > _MAX_VALUE:
        return []
    if word[-1] in "\"'”’»“`":  # a quoted value: tied by a connector, or "make '…' the new password"
        opener = _find_opener(text, tok.end() - 1)
        span = _quoted_at(text, opener) if opener is not None else None
        if span is not None and span.end == tok.end():
            prev = doc.before(span.start, 1)
            verb = prev[0].group(0) if prev else ""
            if conn or verb.lower() in _VERBS:
                return [span]
    if not conn or (weak and not _is_candidate(word, weak=True)):
        return []
    if _is_candidate(word, weak=weak):
        start = tok.start() + (1 if word.startswith("(") else 0)
        return [_Span(start, start + len(_clean(word)), _clean(word))]
    # plain words back to a verb: "use correct horse battery staple as the new password"
    for j in range(i, max(-1, i - _MAX_WORDS), -1):
        w = toks[j].group(0).lower()
        if w in _VERBS and j < i:
            first = toks[j + 1]
            value = text[first.start():tok.start() + len(_clean(word))]
            words = toks.span(j + 1, i + 1)
            if _is_plain_value(first.group(0)) and not any(t.group(0).lower() in _EXT_STOP for t in words):
                return [_Span(first.start(), first.start() + len(value), value)]
            return []
        if w[-1] in ",;.!?:" or w in _EXT_STOP:
            return []
    return []


_OPENER_RE = re.compile("[" + re.escape("".join(_OPEN_CLOSE)) + "]")


def _find_opener(text: str, close: int) -> int | None:
    """The nearest quote opening the one at ``close`` (within 130 characters)."""
    lo = max(0, close - 130)
    for m in reversed(list(_OPENER_RE.finditer(text, lo, close))):
        pos = m.start()
        if text[close] in _OPEN_CLOSE[text[pos]] and (pos == 0 or text[pos - 1].isspace() or text[pos - 1] in "(:="):
            return pos
    return None


_SENTENCE_END_RE = re.compile(r"[.!?\n](?=\s|$)")
_NAME_CUE = {"ssid", "name", "named", "called", "network", "netzwerk", "heißen", "heissen", "nom", "nombre", "réseau",
             "red", "rename", "umbenennen", "renommer", "renombrar"}


def _quoted_in_sentence(doc: _Doc, kw: _Kw) -> list[_Span]:
    """The situation, not the sentence: a quoted string in the same sentence as a
    credential keyword is its value, whatever words tie them ("'X' is what she wants as her
    Wi-Fi password", "« X », c'est le mot de passe qu'elle veut") — unless it names a network
    ("SSID 'GardenFlat' and passphrase …")."""
    text = doc.text
    lo = max(0, kw.start - _LOOKBACK)
    ends = list(_SENTENCE_END_RE.finditer(text, lo, kw.start))
    lo = ends[-1].end() if ends else lo
    end = _SENTENCE_END_RE.search(text, kw.end, min(len(text), kw.end + _LOOKBACK))
    hi = end.start() if end else min(len(text), kw.end + _LOOKBACK)
    out: list[_Span] = []
    pos = lo
    while (m := _OPENER_RE.search(text, pos, hi)) is not None:
        q = _quoted_at(text, m.start())
        if q is None or (m.start() > 0 and text[m.start() - 1].isalnum()):  # "she's", "l'eau"
            pos = m.end()
            continue
        prev = doc.before(q.start, 3)
        cue = {_clean(prev[k].group(0)).lower() for k in range(len(prev))}
        if not cue & _NAME_CUE and not _keywords(q.value) and len(q.value) <= 63:
            out.append(q)
        pos = q.end
    return out


# Issue 54: the nets masked the fleet's own names — "the password prompt shows up on ONT-G240W", "the
# customer says sub-00001 keeps dropping off the wifi" (636 of 764 names from a simulated fleet in
# ordinary support sentences). A token in a name's position is not a value: right after a relation
# word ("on", "from", "connected to", "sur", "con"…), or the subject of a verb that follows it, past
# the rest of a several-word name ("FRITZ!Box 7530 XY keeps …", "X ne se connecte plus").
_RELATION = {"on", "at", "from", "with", "by", "via", "near", "behind", "of", "onto", "an", "am", "im", "mit", "bei",
             "von", "vom", "zum", "zur", "über", "sur", "chez", "avec", "au", "aux", "con", "al", "desde", "sobre"}
_LINK_VERB = re.compile(r"^(connect\w*|join\w*|link\w*|pair\w*|attach\w*|verbunden|verbind\w*|"
                        r"connect[ée]\w*|conectad\w*|reconnect\w*)$", _I)
_AFTER_NAME = {"keeps", "kept", "cannot", "can't", "can", "could", "won't", "will", "doesn't", "does", "did", "didn't",
               "isn't", "wasn't", "has", "had", "hasn't", "was", "drops", "dropped", "loses", "lost", "shows",
               "showed", "reboots", "rebooted", "restarts", "stopped", "stops", "disconnects", "goes", "went",
               "says", "sees", "gets", "got", "needs", "is", "are",
               "verliert", "kann", "hat", "ist", "war", "fällt", "geht", "bricht", "zeigt", "startet", "sieht",
               "ne", "n'est", "n'a", "perd", "a", "est", "se", "redémarre", "voit",
               "no", "pierde", "tiene", "está", "es", "reinicia", "ve"}


def _name_position(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` sits where a name does (see above), so no net takes it for a value."""
    after = text[end:end + 120].split()
    for word in after[:4]:
        w = word.lower().strip(",;:()\"'")
        if w in _AFTER_NAME:
            return True
        if not (any(c.isupper() or c.isdigit() for c in word) and word[-1] not in ",;:.!?"):
            break  # not the rest of a name: the token is not a subject
    before = text[max(0, start - 80):start].split()
    if before:
        if before[-1].endswith(":"):
            return False  # "… from now on: X" — a label, and its value after it
        prev = before[-1].lower().strip(",;()\"'")
        if prev in _RELATION and len(before) > 1 and _ACCESS.search(before[-2]):
            return False  # "wifi salasana on X" (Finnish "is"), "password for… ": the keyword's own word
        if prev in _RELATION or (prev in ("to", "into", "à", "a") and len(before) > 1
                                 and _LINK_VERB.match(before[-2].strip(",;:"))):
            return True
    return False


def _net(doc: _Doc, kw: _Kw) -> list[_Span]:
    """Other word orders: a few words on in the keyword's clause, a token that would pass the
    WPA2 rule and has a digit or a symbol ("the WiFi password they chose is Moonlight42")."""
    out = []
    for n, m in enumerate(doc.after(kw.end, _NET_WINDOW + 1)):
        if m.end() - m.start() > _MAX_VALUE:
            break
        raw = m.group(0)
        if n == 0 and m.start() == kw.end and raw in ("?", ":", "?:"):
            continue  # "wifi password? make it Quartz_Moth_63": the keyword as a heading
        lead = len(raw) - len(raw.lstrip(":=>(→"))
        t = _clean(raw[lead:])
        if (passes_wpa_rule(t) and looks_secret(t) and re.search(r"[\d\W_]", t) and t.lower() not in _STOP
                and not _EXCLUDE_RE.match(t) and not _PLACEHOLDER_PART.search(t) and not _keywords(t)
                and not _name_position(doc.text, m.start() + lead, m.start() + lead + len(t))):
            out.append(_Span(m.start() + lead, m.start() + lead + len(t), t))
        if raw[-1] in ".;!?" and not looks_secret(raw[:-1]):
            break
    return out


_DENSE = 32  # more keywords than this in one text: no sentence reads like that — mask conservatively


def _dense(doc: _Doc, kws: list[_Kw]) -> list[_Span]:
    """A text crowded with keywords ("pw pw pw …", a pasted config dump): rather than read each
    keyword's sentence (time growing with their number), mask every token near a keyword that
    could be a value — a few tokens before, the net's window after. Recall first, in linear time."""
    n = len(doc.starts)
    mark = [0] * (n + 1)
    own: set[int] = set()
    for kw in kws:
        i = bisect_right(doc.starts, kw.start) - 1
        own.add(i)
        mark[max(0, i - 3)] += 1
        mark[min(n, i + _NET_WINDOW + 1)] -= 1
    out: list[_Span] = []
    depth = 0
    for k in range(n):
        depth += mark[k]
        if depth <= 0 or k in own or doc.ends[k] - doc.starts[k] > _MAX_VALUE:
            continue
        raw = doc.text[doc.starts[k]:doc.ends[k]]
        lead = len(raw) - len(raw.lstrip(":=>(→\"'“”„«»‘’`"))
        t = _clean(raw[lead:])
        if t and (len(t) >= 4 or any(c.isdigit() for c in t)) and t.lower() not in _STOP \
                and not _PLACEHOLDER_PART.search(t):
            start = doc.starts[k] + lead
            out.append(_Span(start, start + len(t), t))
    return out


def find_secrets(text: str, *, context: bool = False, mask: bool = False,
                 shapes: bool = True) -> list[tuple[int, int, str]]:
    """``[(start, end, value)]`` of every passphrase in ``text``, in order, not overlapping.

    ``mask``: the spans are for masking only, not for taking a value (issue 54: a value is never
    taken from chat text any more) — recall over exactness: a value after a credential's copula or
    colon runs to the end of its clause, a wish or a correction names a value ("she wants X", "no
    wait, make it X") and overlapping finds are joined. ``context``: the thread was talking about a
    credential, so a message that names none may still carry one (see :func:`_shaped`)."""
    spans: list[_Span] = []
    doc = _Doc(text)
    kws = _keywords(text)
    if len(kws) > _DENSE:
        return [(s.start, s.end, s.value) for s in _dense(doc, kws)]
    for kw in kws:
        weak = kw.weak
        prev = doc.before(kw.start, 1)
        if weak and prev and prev[0].group(0).lower().strip(",;:") in _NOT_CREDENTIAL:
            continue
        spans += _after(doc, kw.end, kw.start, weak) + _before(doc, kw, weak)
        if not weak:
            spans += _net(doc, kw) + _quoted_in_sentence(doc, kw)
            if mask:
                spans += _clause_rest(doc, kw)
    if mask and (context or kws):
        spans += _cued(doc, context, kws)
    # a credential-shaped token counts only where no keyword already found a value (``shapes``: not in
    # text that is not chat — a log line's ids beside "connect" are no passphrase)
    if shapes:
        spans += [x for x in _shaped(text, context) if not any(x.start < y.end and y.start < x.end for y in spans)]
    kept: list[_Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if not s.value:
            continue
        if mask and kept and s.start < kept[-1].end:
            if s.end > kept[-1].end:
                kept[-1] = _Span(kept[-1].start, s.end, text[kept[-1].start:s.end])
        elif not kept or s.start >= kept[-1].end:
            kept.append(s)
    return [(s.start, s.end, s.value) for s in kept]


# Words that end a value running to the end of its clause: a new clause, or the chat around it.
_REST_STOP = {"and", "or", "but", "then", "because", "since", "so", "und", "oder", "aber", "dann", "weil", "et", "ou",
              "mais", "puis", "parce", "y", "o", "pero", "luego", "porque", "please", "pls", "plz", "thanks", "thx",
              "btw", "instead", "ok", "okay", "bitte", "danke", "merci", "svp", "gracias", "stattdessen", "plutôt"}
_REST_END = re.compile(r"[.;!?\n,—–](?=\s|$)|\s[-—–]\s")


def _rest(text: str, pos: int, firsts: frozenset[str] | set[str] = _STOP) -> _Span | None:
    """From ``pos`` to the end of its clause, before a word that starts a new one; None when empty or
    when the first word is no value ("is not working", "ist zu kurz")."""
    end = _REST_END.search(text, pos)
    stop = end.start() if end else len(text)
    words = list(_TOKEN_RE.finditer(text, pos, stop))
    first = _clean(words[0].group(0)).lower() if words else ""
    if not words or first in firsts or first in _AFTERWORDS or _PLACEHOLDER_PART.search(
            text[pos:stop]) or _is_keyword(first):
        return None
    last = words[0]
    for i, w in enumerate(words[1:], start=1):
        word = _clean(w.group(0)).lower()
        if word in _JOIN and _plain_tail(words[i + 1:]):  # "… sol de invierno y lluvia": joined, to the clause end
            last = words[-1]
            break
        if word in _REST_STOP or _is_keyword(word):
            break
        last = w
    start, finish = words[0].start(), words[0].start() + len(text[words[0].start():last.end()].rstrip(_TRAIL))
    return _Span(start, finish, text[start:finish]) if finish > start else None


# Not the first word of a value after a copula: a place, a time, a passive ("is on the sticker",
# "should be at least 12 characters", "a été changé hier").
_NOT_A_REST = _STOP | _RELATION | _PREP | {"été", "sido", "worden", "geworden", "in", "under", "below", "above"}


def _clause_rest(doc: _Doc, kw: _Kw) -> list[_Span]:
    """After a credential keyword and its copula or colon, the rest of the clause ("the password should
    be blue sky over the bay", "… est chat noir sur le toit")."""
    pos, seen = _skip_connectors(doc.text, kw.end)
    if not seen & {"copula", "colon", "assign"} or pos >= len(doc.text):
        return []
    span = _rest(doc.text, pos + len(doc.text[pos:]) - len(doc.text[pos:].lstrip()), _NOT_A_REST)
    return [span] if span is not None else []


# A wish or a correction names the value that follows it, where a credential is being talked about.
_CUE_VALUE_RE = re.compile(
    r"(?<![\w-])(?:wants?|wanted|would like|'d like|chose|picked|prefers?|möchte\w*|wünscht|hätte gern|will|"
    r"veut|veulent|voudrait|souhaite|préfère|quiere\w*|querría|prefiere|make it|use|nimm|nehmt|lieber|mets|mettez|"
    r"plutôt|pon|mejor|set it to|change (?:it|that) to|typo|correction|korrektur|tippfehler|erreur|perdón|era)(?![\w-])"
    r"(?:\s+(?:it|that|es|ça|lo|la)?\s*(?:to\s+be|to|zu|sein|être|ser)\b)?"
    r"(?:\s*(?:is|be|ist|est|es|:)(?=\s))?\s*:?\s*",
    _I)


def _cued(doc: _Doc, context: bool, kws: list[_Kw]) -> list[_Span]:
    """Values after a wish or a correction: anywhere in a thread about a credential, else after the
    message's first credential keyword ("can you change her wifi password? she wants Harbor-Light-72")."""
    text = doc.text
    first = 0 if context else kws[0].start
    out: list[_Span] = []
    for m in _CUE_VALUE_RE.finditer(text, first):
        span = _rest(text, m.end(), _FUNCTION)  # "they want is correct horse battery": a wish's value
        if span is not None:
            out.append(span)
    return out


# ---------------------------------------------------------------------------- credential-shaped tokens
# Issue 45 item 4: secrets given in words the keyword lists do not know — another language, a synonym
# ("access code", "sésame", "llave"), or only pointed at ("use X to get onto the wifi"). A token shaped
# like a credential (8–63 characters, no spaces, lower-case letters with digits or symbols; not a
# version, an address or a device id, which carry no lower-case letter or are dotted numbers) is masked
# when its sentence mentions access (in many languages: password words from two dozen languages, key,
# code, login, credentials, connect) — or mentions the network (wifi, wlan, router, network …) and
# nothing names the token as a network name ("rename it to X", "heißen", "nombre").
_ACCESS = re.compile(
    r"pass|parol|has[łl]o|heslo|jelsz|salasan|l[öo]senord|wachtwoord|senha|contrase|clave|[şs]ifre|пароль|κωδικ|"
    r"mot de passe|\bmdp\b|\bpwd?\b|\bpin\b|\bpsk\b|\bwpa|\bkey\b|schl[üu]ssel|\bcl[ée]\b|llave|chiave|chave|"
    r"sleutel|klucz|\bcode\b|c[óo]digo|codice|\bkod\b|secret|sésame|sesame|credential|login|log in|anmeld|zugang|"
    r"access|acceso|accès|accesso|toegang|dost[eę]p|connect|verbind|conect|connessione|entrar|get (on|onto|into)|"
    r"ins wlan|ins netz|se connecter|kommen ins|rein ins", _I)
_NETWORK_WORDS = re.compile(r"wi-?fi|wlan|router|routeur|modem|network|netz|r[ée]seau|\bred\b|\brete\b|\brede\b|"
                            r"sie[cć]|\ba[ğg]\b|n[äa]tverk|verkko|hotspot|\bssid\b|box", _I)
_NAMING = re.compile(r"\b(ssid|name[ds]?|call(ed)?|rename\w*|heiß\w*|nenn\w*|umbenenn\w*|nom|nomm\w*|renomm\w*|"
                     r"appel\w*|nombre|llam\w*|renombr\w*)\b", _I)
_SHAPED = re.compile(r"(?<![\w@/.:=\]!-])(?=[^\s]*[a-zà-ÿ])(?=[^\s]*[\d!#$%&*+?@^~_])[^\s\"'“”«»,;()=:]{8,63}"
                     r"(?<![.,!?])")
_SHAPE_MARK = re.compile(r"[\d!#$%&*+?@^~_]")
_NOT_SECRET = re.compile(r"^(https?|ftp)://|@|^\d+(\.\d+)+|^[\da-f]{2}([:-][\da-f]{2}){5}$|^Device\.|^WPA\d?\b|^WEP\b|"
                         r"^InternetGatewayDevice\.|\[secret|"
                         # a band or a unit glued to words: "5-GHz-Netz", "2,4-GHz-Band", "5G-network"
                         r"\d(?:[.,]\d+)?-?(?:ghz|mhz|dbm|[mgk]bit|mbps)(?![a-z])|^\d(?:[.,]\d)?-?g-", _I)


def _shaped(text: str, context: bool = False) -> list[_Span]:
    """Credential-shaped tokens where access is talked about: in a sentence that mentions it, or in
    every sentence of a message whose thread (``context``) or earlier sentence named a credential
    ("Can you change the WLAN password? She wants Kuckucksuhr77", then "sorry, typo: Nordlicht-45")."""
    out: list[_Span] = []
    start = 0
    told = context
    for sentence in re.split(r"(?<=[.!?;\n])\s+", text[:_MAX_TEXT]):
        at = text.find(sentence, start)
        start = at + len(sentence)
        access = _ACCESS.search(sentence) is not None or told
        told = told or bool(_keywords(sentence))
        if not access and _NETWORK_WORDS.search(sentence) is None:
            continue
        for m in _SHAPED.finditer(sentence):
            token = m.group(0)
            if not _SHAPE_MARK.search(token):
                continue  # the mark was a sentence's own "?" or "!", which the match gave back
            if _NOT_SECRET.search(token) or _is_keyword(token) or token.lower() in _FUNCTION:
                continue
            if re.search(r"\d+\.\d+", token) and not re.search(r"[^\w.\-]", token):
                continue  # a firmware version ("prplOS-3.1.0", "7.4.1-beta3")
            if (not access and _NAMING.search(sentence)) or _NAMING.search(
                    sentence[max(0, m.start() - 40):min(len(sentence), m.end() + 20)]) is not None:
                continue  # "rename the wifi to Linden-Loft-45", "in 'Kastanie-24' umbenennen": a name
            if not access and _NETWORK_WORDS.search(sentence[:m.start()] + " " + sentence[m.end():]) is None:
                continue  # the only network word was the token's own ("Livebox-91C0", "FRITZ!Box")
            if _name_position(sentence, m.start(), m.end()):
                continue  # "… shows up on ONT-G240W", "sub-00001 keeps dropping": where a name stands
            out.append(_Span(at + m.start(), at + m.end(), token))
    return out


def _replace(text: str, make: Callable[[str], str]) -> str:
    out, last = [], 0
    for start, end, value in find_secrets(text):
        out += [text[last:start], make(value)]
        last = end
    out.append(text[last:])
    return "".join(out)


def redact(text: str, start: int = 1) -> tuple[str, dict[str, str]]:
    """``(text with placeholders, {placeholder: secret})``; numbering starts at ``start``."""
    secrets: dict[str, str] = {}

    def make(value: str) -> str:
        key = f"[secret:{start + len(secrets)}]"
        secrets[key] = value
        return key

    return _replace(text, make), secrets


def scrub_text(text: str, *, context: bool = False, shapes: bool = True) -> str:
    """``text`` with every passphrase replaced by ``[secret]`` — for text at rest and on the way
    out (events, titles, the read API, migration 0007). Masks as :func:`find_secrets` does with
    ``mask``; ``shapes=False`` keeps only what a keyword names (log lines). Idempotent; placeholders stay."""
    if not text:
        return text
    out, last = [], 0
    for start, end, _value in find_secrets(text, context=context, mask=True, shapes=shapes):
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


_FREE_TEXT_KEYS = frozenset({"text", "message", "title", "question", "answer", "reason", "rationale", "intent",
                             "summary", "note", "comment", "content"})


def scrub_data(data: Json, key: str = "") -> Json:
    """A copy of an event's ``data`` with free-text fields (``text``, ``message``, ``summary``…)
    scrubbed; structured values (paths, ids, numbers) are left alone."""
    if isinstance(data, dict):
        return {k: scrub_data(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub_data(v, key) for v in data]
    if isinstance(data, str) and key in _FREE_TEXT_KEYS:
        return scrub_text(data)
    return data
