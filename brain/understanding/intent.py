"""Which kind of request a message is (an ``Intent``), and the network name it asks for.

Why apart from the playbooks: these read only text. Understanding (text → what was asked) must not
import planning (what was asked + evidence → a draft), or the two grow into one circle again.
"""

from __future__ import annotations

import re

from brain.plan import Intent
from brain.understanding import actions as requests
from brain.understanding.values import CORRECTION_WORDS

SECRET_RE = re.compile(r"\[secret:(\d+)\]")
_I = re.IGNORECASE
_PASS = re.compile(r"pass ?(word|phrase)|\bpw\b|\bpwd\b|wi-?fi (key|code)|network key|wpa key|\[secret:\d+\]|"
                   r"passw[oö]rt|kennwort|wlan-?schlüssel|netzwerkschlüssel|mot de passe|\bmdp\b|cl[ée] (wi-?fi|wpa)|"
                   r"contraseña|\bclave\b|\b(guest|gäste|gast)\w*[- ]?(network |wi-?fi |wlan-?)?(key|schlüssel)\b", _I)
# A password for something that is not the gateway's Wi-Fi ("her email password", "das Netflix-Passwort").
FOREIGN_ACCOUNT = re.compile(r"\b(e-?mail|mail|inbox|outlook|gmail|gmx|web\.de|icloud|apple|google|netflix|amazon|"
                             r"disney|spotify|bank\w*|online-?banking|account|konto|compte|cuenta|portal|app|"
                             r"facebook|instagram|whatsapp|paypal|kundenkonto|espace client|área de cliente|"
                             # the box's own login, not its Wi-Fi: "the admin password", "das Admin-Passwort"
                             r"admin\w*|administrat\w*|login|web ?ui|web interface|gui|root)\b", _I)
# ... said after the word: "le mot de passe admin", "la contraseña del administrador", "das Passwort der Oberfläche"
_ADMIN_AFTER = re.compile(r"\W{0,3}(?:(?:de l'|de la |de |del |d'|der |des |for the |of the |to the |for |of )\s*)?"
                          r"(?:[\w']+\s+){0,2}?(?:admin\w*|administra\w*|interface|oberfläche|login|web ?ui|gui|"
                          r"root)\b", _I)
_SSID = re.compile(r"\b(change|rename|new|set|update|different|call)\b.{0,40}\b(ssid|network name|wi-?fi name|"
                   r"name)\b|\bssid\b.{0,20}\b(to|as)\b|\brename\b|network name|wi-?fi name|"
                   r"name of (the|their|his|her|my) (wi-?fi|network)|\bcall (it|the (wi-?fi|network))\b|"
                   # "would like their network to be called X", "umbenennen", "renommer", "que se llame X"
                   r"\b(wi-?fi|network|wlan|ssid)\b.{0,25}\b(be )?(called|named)\b|\brenam\w*|\bumbenenn\w*|"
                   r"\bumbenannt\s+(haben|werden|bekommen)\b|"
                   r"\bumtaufen|\bbenenn\w*\b.{0,40}\bum\b|\b(soll|sollte) .{0,25}\bheißen\b|\brenomm\w*|"
                   r"\bs'appeler\b|"
                   r"\brenombr\w*|"
                   r"\bse llame\b|\bc[aá]mbi\w* (el|de) nombre|"
                   r"\bpon(le|erle)? (de |como |el )?nombre\b|\bnuevo nombre\b|\bnouveau nom\b|\bneue[nr]? name|"
                   r"\b(chang|modifi)\w* (le |son |leur )?nom\b|\bnenn\w*\b.{0,20}\b(wlan|netz\w*|wi-?fi)\b|"
                   r"\bnom du (wifi|réseau)\b.{0,30}\ben\b|"
                   r"\bnamen (des|vom) (wlan|netz\w*)\b.{0,30}\b(ändern|auf)\b|"
                   # "WLAN-Name auf 'X' ändern", "que son réseau s'appelle « X »"
                   r"\b(wlan|wi-?fi|netz\w*)-?name\w*\b.{0,40}\b(ändern|auf|umstellen|setzen)\b|"
                   r"\b(réseau|wi-?fi|wlan|box)\b.{0,25}\bs'appelle\b|\bssid\b.{0,40}\b(ändern|umstellen|setzen)\b", _I)
_INFORM = re.compile(r"\binform|not reporting|doesn'?t report|stale|check(s|ing)? in|last seen|\bacs\b|"
                     r"\bmeldet sich\b|\bsich\b.{0,20}\bmelden\b|melden lassen|meldeintervall|ne remonte|"
                     r"remont\w* (qu|normalement|rarement|jamais|plus)|\breport(s|ing)? (in|back)\b|"
                     r"reporta\w* su estado|informa\w* su estado|"
                     r"(update|actualiz|aktualisier)\w* (its|su|seinen?) (status|estado)|"
                     r"tr-?069|periodic|management server|not (showing|visible) (up )?in", _I)
_CONN = re.compile(r"no internet|internet('s|’s| is| keeps)? ?(down|out|not working|dead|dropping)|"
                   r"can'?t (get online|browse)|"
                   r"websites?|web ?pages?|pages? (won'?t|don'?t|do not) load|\bdns\b|\boffline\b|outage|"
                   r"no (connection|service|sync)|lost connection|(link|line|fibre|fiber) (is )?down", _I)
_COVER = re.compile(r"coverage|weak (signal|wi-?fi)|signal (is )?(weak|poor|low)|far (room|end)|garden|upstairs|"
                    r"downstairs|back (room|bedroom)|bedroom|can'?t reach|\brange\b|one bar|dead ?zone|"
                    r"through (the )?walls?", _I)
_WIFI = re.compile(r"\b(wi-?fi|wireless|wlan|drop(s|ping|ped)?|disconnect\w*|slow\w*|buffer\w*|evenings?|dies|"
                   r"cuts? out|unstable|interference|channels?|radar|streaming|video calls?|zoom|teams)\b", _I)
_STATUS = re.compile(r"\bstatus\b|how is|summary|check (the |this )?(device|router|gateway|box)|overview", _I)
_HARD_UNSUPPORTED = re.compile(r"factory[ _-]?reset|reboot (all|every)|approve|delete|wipe|shell|ssh|telnet|"
                               r"root access|disable (the )?firewall", _I)
_FACTORY_RESET = re.compile(r"factory[ _-]?reset", _I)
_UNSUPPORTED = re.compile(r"factory[ _-]?reset|firmware|upgrade|downgrade|reboot (all|every)|approve|"
                          r"delete|wipe|shell|ssh|telnet|root access|disable (the )?firewall", _I)
TRIGGERS = {
    "wifi_congestion": Intent.WIFI, "dfs_radar": Intent.WIFI, "dns_lost": Intent.CONNECTIVITY,
    "dns_failures": Intent.CONNECTIVITY, "periodic_inform": Intent.INFORM, "inform_stale": Intent.INFORM,
    "poor_coverage": Intent.COVERAGE, "wan_down": Intent.CONNECTIVITY, "wan_degraded": Intent.CONNECTIVITY,
}
TRIGGER_RE = re.compile(r"^\[trigger:([a-z0-9_]+)\]")


# "what their wifi is called", "wie das WLAN heißt", "comment s'appelle le wifi": the name asked about
_NAME_ASKED = re.compile(r"\b(what|wie|comment|cómo|como|which|welchen?|quel)\b[^.?!]{0,30}\b(called|named|heißt|"
                         r"appelle|llama)\b", _I)


def classify(text: str, *, is_job: bool = False) -> Intent:
    m = TRIGGER_RE.match(text.strip())
    if m and is_job:
        return TRIGGERS.get(m.group(1), Intent.UNKNOWN)
    has_pass = any(not FOREIGN_ACCOUNT.search(text[max(0, m.start() - 25):m.start()])
                   and not _ADMIN_AFTER.match(text, m.end()) for m in _PASS.finditer(text))
    # a name asked about, or hidden or shown again ("stop broadcasting the network name"), is no new name
    has_ssid = bool(_SSID.search(text)) and not ((_NAME_ASKED.search(text) or requests.hides_or_shows(text))
                                                 and not extract_ssid(text))
    if has_pass and has_ssid:
        return Intent.CREDENTIALS
    if has_pass:
        return Intent.PASSPHRASE
    if has_ssid:
        return Intent.SSID
    if requests.parse(text) is not None:
        return Intent.REQUEST
    if _UNSUPPORTED.search(text) and not (requests.reset_mood(text) in ("history", "question")
                                          and not _UNSUPPORTED.search(_FACTORY_RESET.sub(" ", text))):
        return Intent.UNSUPPORTED  # a reset that happened, or a question about one, is not asked for
    for rx, intent in ((_INFORM, Intent.INFORM), (_CONN, Intent.CONNECTIVITY), (_COVER, Intent.COVERAGE),
                       (_WIFI, Intent.WIFI), (_STATUS, Intent.STATUS)):
        if rx.search(text):
            return intent
    return Intent.UNKNOWN


# a quote mark; an apostrophe only where it is not inside a word ("s'appelle", "customer's") — and inside the
# quoted name, an apostrophe within a word is the name's own ("Nana's Attic": the name was not read at all)
QUOTED = re.compile(r"(?:[\"“”«»„]|(?<![^\W\d_])['‘’])\s?((?:[^\"“”'‘’«»„]|(?<=[^\W\d_])['’](?=[^\W\d_])){1,64}?)"
                    r"\s?(?:[\"“”«»]|['‘’](?![^\W\d_]))")
_SSID_VALUE = re.compile(r"\b(?:make|set|change) the (?:network|wi-?fi) name\s+([^\s,;]+)|"
                         r"(?:ssid|network name|wi-?fi name|name|"
                         r"rename(?: (?:it|(?:the|their|his|her|my|your|its|the customer'?s) "
                         r"(?:wi-?fi|network|ssid)))?)"
                         r"\s*(?:\s(?:to|as|is|should be)\s+|=\s*|:\s*)(?:be\s+)?([^\s,;]+)|"
                         r"\bcall(?:ed)?(?: it| the (?:wi-?fi|network|wlan|ssid))?\s+([^\s,;]+)|"
                         # "rename the 5GHz wifi to X", "wants the wifi renamed to X", "cambia el nombre de la wifi
                         # principal a X", "renomme le wifi en X"
                         r"\brenam(?:e|ed|ing)\b(?:\s+[\w.'-]+){0,4}?\s+(?:to|as|into)\s+([^\s,;]+)|"
                         r"\bnombre\b(?:\s+(?:de|del|la|el|wifi|wi-fi|red|principal|invitados|2\.4GHz|5GHz|6GHz)){0,5}"
                         r"\s+a\s+(?!(?:la|el|los|las|red|wifi|wi-fi|su|mi|tu)\b)([^\s,;]+)|"
                         r"\brenomm\w*\b(?:\s+[\w.'-]+){0,4}?\s+en\s+([^\s,;]+)|"
                         r"\b(?:se llame|que se llame|llamad[ao]|heißen soll|soll(?:te)? .{0,20}heißen|"
                         r"nenn\w*(?: es| das wlan| das netz)?|s'appelle|appelée?|named)\s+"
                         r"[\"'“„«]?([^\s,;\"'”»]+)", _I)
_STOP = {"to", "as", "is", "be", "the", "it", "a", "an", "and", "please", "something", "new", "their", "wifi",
         "wi-fi", "network", "name", "change", "changed", "too"}


# A name corrected at the end of the message: "… to Alpha, sorry, to Beta", "… "Alpha", no wait, "Beta"" — the
# later name is the one asked for (the first was written, found by phrasings tried for issue 57).
_RENAMED_AGAIN = re.compile(
    rf"[\s,.…—–-]*(?:(?:{CORRECTION_WORDS})\b[\s,:;.!-]{{0,6}}){{1,3}}(?:(?:to|in|en|a|auf|as|zu)\s+)?"
    r"(?:[\"“«„‘']([^\"”»“'’]{1,64})[\"”»“'’]|([^\s,;.!?\"”»“'’]+))"
    r"(?:\s+(?:um|instead|stattdessen|plutôt|please|bitte|svp|por favor))?[\s.!]*", _I)


def _corrected(clean: str, end: int, first: str) -> str:
    """The name a correction right after the first one gives, or the first one."""
    m = _RENAMED_AGAIN.fullmatch(clean, end)
    later = (m.group(1) or m.group(2) or "").strip() if m else ""
    if not later or later.lower() in _STOP or later.lower().strip(".!?…") in _FILLER or SECRET_RE.search(later):
        return first
    return later


# what a person says while thinking, never a name ("… to Alpha, no wait, hmm": the name stays Alpha)
_FILLER = {"hmm", "hm", "hmmm", "uh", "um", "umm", "er", "erm", "ehm", "äh", "ähm", "öh", "euh", "heu", "bah", "eh",
           "este", "pues", "bueno", "well", "so", "also", "alors", "wait", "attends", "warte", "espera", "sorry",
           "pardon", "perdón", "perdon", "oops", "ups", "oh"}


def extract_ssid(text: str) -> str | None:
    """The network name asked for: a quoted string, or the word after 'SSID to', 'rename to'… — or the
    name a correction at the end of the message gives instead ("to Alpha, sorry, to Beta")."""
    clean = SECRET_RE.sub(" ", text)
    for m in QUOTED.finditer(clean):
        cand = m.group(1).strip()
        if cand and not SECRET_RE.search(cand):
            return _corrected(clean, m.end(), cand)  # never shortened: a name over 32 bytes is a question
    for m in _SSID_VALUE.finditer(clean):
        cand = next((g for g in m.groups() if g), "").strip().strip(".!?")
        if cand and cand.lower() not in _STOP and not cand.lower().startswith("pass"):
            if (fixed := _corrected(clean, m.end(), cand)) != cand:
                return fixed
            # Unquoted: one token when what follows in its clause is chatter ("call it X thanks!"), or a run of
            # capitalised words to the clause's end or chatter ("rename the main wifi to Casa Rossi please"). Else
            # unclear ("call it Blue house because …") — asked again (in quotes), never cut to "Blue".
            after = re.split(r"[,;.!?\n]", clean[m.end():], maxsplit=1)[0].split()
            return _name_run(cand, after)
    return None


def _name_run(first: str, after: list[str]) -> str | None:
    """The unquoted name that starts with ``first``: alone before chatter or the clause's end, or with the capitalised
    words after it (at most four in all) when chatter or the clause's end follows them."""
    run = [first]
    rest = after
    if first[:1].isupper():
        while rest and len(run) < 4 and rest[0][:1].isupper() and rest[0].lower() not in _CHATTER:
            run, rest = [*run, rest[0]], rest[1:]
    if rest and rest[0].lower().strip("'\"") not in _CHATTER:
        return None
    return " ".join(run)


_CHATTER = {"porfa", "schön", "dir", "bcp", "thanks", "thank", "thx", "ty", "please", "pls", "plz", "lol", "ok",
            "okay", "cheers", "asap", "now",
            "and", "then", "danke", "bitte", "und", "dann", "jetzt", "merci", "svp", "stp", "et", "puis",
            "maintenant", "por", "y", "luego", "ahora", "for", "für", "pour", "para", "instead",
            "stattdessen", "plutôt", "mejor", "sein", "be", "please."}
