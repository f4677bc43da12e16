"""Understanding a support agent's message before any operation matcher sees it.

Why a step of its own: the operation matchers (``brain.understanding.actions``, ``.intent.classify``) look
for words — "reboot", "firmware", "speed test" — and so read "when did it last reboot?" as a
reboot, "what firmware is it on?" as a firmware action and "speedtest on cable is fine" as a speed
test. What a clause *does* is decided by its structure, not its keywords:

* **question** — an interrogative opening ("what", "wann", "quelle", "¿cuánto"), a question mark
  on a clause that is not a modal request, or "tell me / sag mir / dis-moi / dime …";
* **request** — a modal or polite request ("can you …", "kannst du …", "peux-tu …", "¿puedes …?",
  "the customer would like …"), or an imperative; "can you tell me …" is a question;
* **negation** — a negation word in the scope of an operation verb ("don't reboot", "auf keinen
  Fall neu starten", "no need to change anything");
* **report** — something already works ("is fine", "works again", "est bon", "funciona bien").

The message is split into clauses (sentences; commas; "and/und/et/y" when what follows opens a
new clause — a question word, "tell me", "afterwards", an operation verb — never inside quotes and
never "off and on"). Questions and their topics go to ``brain.answers``; only request and plain
clauses reach the operation matchers; negations and reports never do. Several operations in one
message are listed so the planner can handle the first and say which it defers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from brain.plan import Intent, Plan
from brain.understanding import actions, targets
from brain.understanding.intent import classify
from brain.understanding.lexicon import OFF_AND_ON, _lexicon

Act = Literal["question", "request", "negation", "report", "statement", "heading"]
_I = re.IGNORECASE

# ---------------------------------------------------------------------------- speech acts
_QUESTION_OPEN = re.compile(
    r"^\W*(?:¿\s*)?(seit wann|since when|depuis quand|desde cuándo|"
    r"what|what's|whats|which|when|how|who|whom|whose|why|where|is|are|was|were|does|do|did|"
    r"has|have|had|any|anyone|anybody|wie|welche\w*|wann|wer|warum|wieso|weshalb|wo|woran|ist|sind|läuft|laufen|hat|haben|"
    r"gibt|hängen|hängt|quel\w*|quand|combien|comment|qui|pourquoi|où|est-ce|y a-t-il|la box est|qué|que|cuál\w*|"
    r"cuándo|cuando|cuánt\w*|cómo|quién\w*|por qué|dónde|hay|está|tiene|sabes)\b", _I)
_TELL_ME = re.compile(
    r"\b(tell me|let me know|show me|give me (the|its)|what about|"
    # "check whether …" asks (a yes/no about the device's state); "make sure …" asks for a change
    # "have a look for me which …", "tu peux me vérifier sur quel …", "mírame qué …", "revísame qué …": the looking
    # verb, its pronoun or filler words, a preposition, then what is asked
    r"(check|checke?|prüf(?:e|en)?|schau|guck|kontrollier\w*|v[ée]rifie[zr]?(?:-moi)?|regarde[zr]?(?:-moi)?|"
    r"(?:have|take) a (?:quick )?look|m[íi]ra(?:me|nos)?|compru[ée]ba(?:me)?|comprobar|rev[íi]sa(?:me|nos|r)?|"
    r"f[íi]jate|fijarte|chequea(?:r|me)?|ch[ée]qu[ée]ame)"
    r"(\s+(mal|bitte|doch|kurz|schnell|stp|svp|vite|rapido|rápido|porfa|for me|for us|real quick|quickly|"
    r"pour moi))*,?\s+"
    r"(?:(?:on|at|in|for|since|sur|dans|à|de|en|con|auf|an|mit|seit|depuis|desde)\s+)?"
    r"(what|which|how|if|whether|when|ob|welche\w*|wie|si|s'il|qu\w+|cu[áa]l\w*|c[óo]mo|cu[áa]nd\w*|cu[áa]nt\w*|"
    r"combien|d[oó]nde|wann|seit wann|wo)"
    # … except "see if you can move it": a polite request
    r"(?!\s+(you|u|we)\s+(can|could)\b|\s+(puedes|podés|podrías|se puede|tu peux|vous pouvez|on peut|du|man)\b)|"
    r"find out|"
    # "customer's asking what public IP …", "she wants to know which …", "il demande quelle …", "pregunta qué …"
    r"(?:asking|asks|asked|wondering|wonders|fragt|will wissen|möchte wissen|demande|se demande|pregunta|quiere saber)"
    r"\s+(?:(?:us|me|mich|uns)\s+)?(?:what|which|how|when|whether|if|welche\w*|wie|wann|ob|quel\w*|combien|si|"
    r"qu[ée]|cu[áa]l\w*|cu[áa]nt\w*|c[óo]mo|cu[áa]ndo)\b(?!\s+(you|u|we)\s+(can|could)\b)|"
    # "kannst du mal prüfen, seit wann …", "tu peux vérifier : …": the looking verb ends its clause, the question
    # follows
    r"(?:mal|kurz|bitte|you|u|tu|vous|me|nos)\s+(?:prüfen|nachprüfen|checken|kontrollieren|vérifier|regarder|revisar|"
    r"mirar|comprobar|chequear|check)(?=\s*[,:]\s*$)|"
    r"(see|know|tell|say) (how (many|much|long)|what|which|who|when)\b|look (it |that |this )?up|"
    r"nachschauen|nachsehen|schau nach|cherche[rz]?|regarde[rz]? (ce|quel)|busca(lo|r)?|míra(lo)?|"
    r"sag mir|sagen sie mir|zeig mir|nenn mir|verrat mir|dis-moi|dites-moi|montre-moi|indique-moi|"
    # "can you tell me …", "I just want to know …": a question however politely put
    r"(?:peux|pouvez|pourrais|pourriez)[- ](?:tu|vous) me dire|(?:tu|vous) (?:peux|pouvez|pourrais|pourriez) me dire|"
    r"me (?:dire|dis) (?:quel|quelle|si|combien|comment|où|qui)|(?:me )?puedes decir(?:me)?|decirme|"
    r"(?:kannst du|können sie|könntest du) mir sagen|"
    r"(?:i )?(?:just |only )?(?:want|wanna|need|would like|'d like) to know|je (?:veux|voudrais|souhaite) (?:juste |"
    r"seulement )?savoir|ich (?:will|möchte|wollte) (?:nur |bloß )?wissen|(?:quiero|quisiera|me gustaría) saber|"
    r"dime|dígame|muéstrame|indícame|"
    # "can u list what's connected", "kannst du die mal nachgucken", "tu peux me la donner", "pásame el número de
    # serie": a read asked as a favour
    r"list (what|whats|what's|the|all|every)|nachgucken|nachgeguckt|raussuchen|me lister|lister les|liste-moi|"
    r"me donner (l'|la |le |les |son |sa |ses )|(?:kannst du|können sie|könntest du) mir\b[^?.!]{0,40}\b(?:sagen|geben|"
    r"schicken|nennen)\b|"
    # "brauch mal die MAC von der PS5", "I need his WAN IP", "necesito la IP": a fact needed is a fact asked for
    r"(?:brauch\w*|need|besoin d[eu']|necesito)\s+(?:\w+\s+){0,3}?(?:ip|mac|ip-adresse|mac-adresse|seriennummer|serial|"
    r"num[ée]ro de s[ée]rie|número de serie|rango|range|bereich|plage|pool|lease|concesión|bail|"
    r"firmware|adresse|address|dirección)\b(?![^.?!;]*\d{1,3}\.\d{1,3}\.)|"
    r"(?:necesito|need to|muss) (?:saber|know|wissen)|"
    r"auflisten|listar|enumerar|"
    r"(?:me )?(?:la|le|les) (?:donner|filer|passer)(?!\s+(?:sur|en|à|au|dans)\b)|donne[sz]?-moi|donnez-moi|file-moi|"
    r"pása(?:me|nos)|dame (?:el|la|los|las))\b", _I)
_MODAL = re.compile(
    r"\b(can (you|u|we)|could (you|u|we)|would you|will you|please|pls|plz|go ahead|let'?s|wants?|would like|"
    r"asks? (us )?(to|for)|needs? (a|to)|kannst du|könntest du|können sie|könnten sie|kann man|bitte|möchte|will|"
    r"wünscht|peux-tu|tu peux|pouvez-vous|vous pouvez|pourriez|pourrais-tu|tu pourrais|veut|voudrait|svp|"
    r"s'il (te|vous) pla[iî]t|merci de|puedes|"
    r"podrías|puede usted|podemos|por favor|quiere|quisiera|necesita)\b", _I)
# An operation verb a negation can scope over (any language; the operation itself is ``brain.understanding.actions``').
OP_VERB = re.compile(
    r"reboot|restart|reset|power[- ]?cycle|touch|change|chang|rename|set\b|\bput\b|\buse\b|turn|switch|disable|"
    r"enable|move|"
    r"neu ?start|neustart|starte|\bstelle?\b|\bsetze?\b|\bmets\b|\bpon\b|zurücksetz|änder|ändern|umbenenn|anfass|"
    r"ausschalt|abschalt|einschalt|"
    r"red[ée]marr|réinitialis|chang|modifi|touche|toucher|renomm|éteindre|"
    r"reinici|cambi|toques|tocar|apag|renombr|restablec", _I)
_NEGATION = re.compile(
    r"\b(don'?t|do not|does not|doesn'?t|never|no need|not necessary|without|instead of|rather than|"
    r"nicht|kein\w*|ohne|statt|auf keinen fall|ne\b|n'|pas besoin|surtout pas|pas d(?:e\b|')|sans|au lieu de|"
    r"no\b|nunca|sin\b|en lugar de|en vez de|ni se te ocurra)", _I)
_REPORT = re.compile(
    r"\b(is|are|was|seems?|looks?|works?|working|runs?|running)\s+(\w+\s+){0,2}?(fine|ok|okay|good|great|normal|"
    r"stable|perfect|correct)\b|\b(all good|works( fine| again| now)?|working (fine|again|now)|no (problem|issue)s?"
    r"( with)?|worked|did the trick|fixed it|hat (geklappt|funktioniert|geholfen)|a (marché|fonctionné|suffi)|"
    r"funcionó|ha funcionado|lo arregló|back to normal|"
    r"funktioniert|läuft (wieder|gut|stabil)|ist (gut|ok|okay|in ordnung|stabil)|passt|alles gut|"
    r"est bon|est bonne|sont bons|marche( bien| à nouveau)?|fonctionne|ça va|tout va bien|nickel|"
    r"funciona|va bien|está bien|todo bien|sin problemas)\b", _I)

# Where "and/und/et/y" starts a new clause: what follows opens one.
_CONJ = re.compile(r"\s*(?:,\s*)?\b(and then|and also|and afterwards|and|then|und dann|und danach|und|dann|"
                   r"danach|et puis|et ensuite|et après|et|puis|ensuite|y luego|y después|y también|y|e|luego|"
                   r"después|but|aber|mais|pero|also|plus)\b\s+", _I)
_CLAUSE_OPEN = re.compile(
    # "… y de paso cambia …", "… and while you're at it rename …", "… et au passage renomme …": a filler first
    r"(?:(?:de paso|ya que estás|by the way|btw|while you(?:'re| are) at it|also|au passage|tant que tu y es|"
    r"bei der gelegenheit|gleich noch|auch noch|noch)\s+)?"
    r"(?:¿\s*)?(what|what's|which|when|how|who|why|where|is|are|does|did|has|afterwards|after that|then|also|"
    r"tell|let me|show|check|give|reboot|restart|rename|set|change|switch|turn|enable|disable|put|move|"
    r"schalt\w*|eingeschaltet|ausgeschaltet|aktivier\w*|deaktivier\w*|active[rz]?|désactive[rz]?|allume\w*|"
    r"éteins|activa\w*|desactiva\w*|enciend\w*|apaga\w*|"
    r"wie|welche\w*|wann|wer|warum|wo|ist|sag|zeig|nenn|danach|anschließend|starte|benenn\w*|änder\w*|setz\w*|"
    r"quel\w*|quand|combien|comment|pourquoi|où|dis|dites|montre|indique|ensuite|après|redémarr\w*|renomm\w*|"
    r"change|mets|qué|cuál\w*|cuándo|cuánt\w*|cómo|por qué|dónde|dime|muestra|luego|después|reinici\w*|renombr\w*|"
    r"cambi\w*|pon|ponlo|ponla|ponle)\b", _I)

# "… and she doesn't want the password changed", "… y no quiere que cambies la contraseña", "… et elle ne veut pas
# qu'on change le mot de passe", "… und sie will nicht, dass …": what is not wanted opens a clause of its own — the
# operation it names is ruled out, and the request before it stays a request
_NOT_WANTED_OPEN = re.compile(
    r"(?:(?:the customer|the client|customer|client|he|she|they|we|i|le client|la cliente|il|elle|ils|on|der kunde|"
    r"die kundin|er|sie|wir|ich|el cliente|la clienta|él|ella)\s+)?"
    r"(?:(?:does not|doesn'?t|do not|don'?t)\s+want|(?:ne\s+|n')?(?:veut|veulent|voudrait)\s+(?:pas|plus|jamais)|"
    r"(?:will|möchte|wollen)\s+(?:nicht|kein\w*)|no\s+(?:quiere|quieren|desea)|(?:quiere|quieren)\s+que\s+no)\b", _I)

# ... and the operation it names, also as German says it done ("…, dass das WLAN umbenannt wird")
_DONE_TO = re.compile(r"\b(umbenannt|neu gestartet|ausgeschaltet|abgeschaltet|eingeschaltet|angefasst|"
                      r"zurückgesetzt|verstellt)\b", _I)
# ... a German want's complement after its comma ("sie will nicht, | dass …") is that want's
_WANTS_NOT_END = re.compile(r"\b(will|möchte|wollen|möchten)\s+(nicht|keine?)\s*$", _I)
_UNWANTED_THAT = re.compile(r"\s*dass\b", _I)

# Spanish marks a question by its punctuation only ("hay lag por la noche" states, "¿hay lag?" asks;
# "que informe con normalidad" is a wish, "¿qué informa?" a question): these openers ask only with ¿ or ?.
_ES_PUNCTUATED = re.compile(r"^\W*(hay|que|está|tiene)\b", _I)

# "do a full factory reset", "do one quick reboot": a determiner and a few words that say what kind
_DO_IMPERATIVE = re.compile(r"^\W*do\s+((the|a|an|that|this|one|another)\s+)?"
                            r"((full|quick|proper|complete|hard|soft|fresh|new|remote|factory|firmware|wifi|wi-fi)\s+){0,2}"
                            r"(reboot|restart|reset|power[- ]?cycle|speed ?test|"
                            r"scan|update|upgrade|change|channel change|rename|ping|traceroute|it)\b", _I)
_BARE_WH = re.compile(r"^\W*(why|when|how|where|by whom|warum|wann|wie|wo|von wem|pourquoi|quand|comment|où|"
                      r"par qui|por qué|cuándo|cómo|dónde|quién)\W*$", _I)

# ---------------------------------------------------------------------------- question topics
TOPICS: dict[str, re.Pattern[str]] = {
    "known_bad": re.compile(
        r"\b(known|bekannt\w*|connu\w*|conocid\w*)\b.{0,30}\b(bad|bug\w*|issues?|problems?|faulty|broken|fehler\w*|"
        r"problem\w*|défaut\w*|bogue\w*|problème\w*|fallo\w*|errores|error|problemas?|defectuos\w*)|"
        r"\b(bad|buggy|faulty|broken|fehlerhaft\w*|défectueu\w*|buggé|problemático)\b.{0,20}\b(firmware|version|"
        r"software|build)\b|\b(firmware|version|software)\b.{0,30}\b(bad|buggy|faulty|broken|fehlerhaft|"
        r"défectueu\w*|problématique|con fallos|defectuos\w*)\b", _I),
    "firmware": _lexicon("firmware", "software version", "softwareversion", "software-version", "version~",
                         "micrologiciel", "logiciel", "versión", "build~"),
    "uptime": re.compile(
        r"\b(up ?time|last (re)?boot\w*|last restart\w*|(re)?boot(ed)?|restart(ed)?|how long\b.{0,30}\b(up|on|"
        r"running|powered)|been up|laufzeit|neu ?gestartet|neustart|seit wann\b.{0,30}\b(läuft|an|online)|"
        r"wie lange\b.{0,30}\b(läuft|an)|red[ée]marr\w*|depuis quand\b.{0,30}\b(allumée?|tourne|en marche)|"
        r"reinici\w*|cuánto tiempo\b.{0,30}\b(lleva|encendid\w*|funcionando)|lleva\b.{0,20}\bencendid\w*)\b", _I),
    # the box's own presence: "is it online?", "ist die Box erreichbar?", "est-elle en ligne ?" — not
    # "online" as an adjective ("online games lag")
    "presence": re.compile(
        r"\b(is|are|was|ist|sind|war|est|est-elle|est-il|sont|está|esta|estaba|sigue)\b[^?.,;]{0,30}?\b(online|offline|"
        r"reachable|up and running|erreichbar|en ligne|hors ligne|joignable|en línea|fuera de línea|conectad[oa]|"
        r"accesible)\b|\b(online|offline|erreichbar|en ligne|en línea)\s*\?|"
        # the box itself up or down ("is the box up?", "is it down right now?"), not "is the internet down"
        r"\b(is|are|was)\s+(the |their |his |her |this |that )?(box|router|gateway|modem|ont|cpe|unit|device|it)"
        r"\s+(still\s+)?(up|down|alive|live)\b|"
        r"\b(checked in|check(ed)?-in|checks in)\b|"
        r"\b(last (heard|contact\w*|seen|inform\w*)|hear from|heard from|talking to (the )?acs|zuletzt (gesehen|"
        r"gemeldet)|zuletzt\b.{0,20}\bgemeldet|dernier contact|dernière (remontée|connexion)|último contacto|"
        r"última conexión)\b", _I),
    "hosts": re.compile(
        r"\b(how many|number of|which|what|who)\b.{0,25}\b(devices?|clients?|hosts?|stations?|phones?|things|laptops?|"
        r"tablets?|computers?)\b|"
        r"\b(devices?|clients?|hosts?)\b.{0,25}\b(connected|online|on (the )?(wi-?fi|network|lan))|"
        r"\bwho('s| is) (connected|on)\b|\bconnected (devices?|clients?)\b|"
        r"\b(wie viele|welche)\b.{0,25}\b(geräte?|clients?|endgeräte?|handys?|laptops?|tablets?)|"
        r"\bgeräte?\b.{0,25}\b(verbunden|im wlan|"
        r"online|hängen)|\bwas\b.{0,30}\b(hängt|hängen|ist|sind)\b.{0,50}\b(dran|drin|verbunden|angemeldet|eingeloggt)\b|"
        r"\bwho('s| is) (hooked up|on it|using it)\b|"
        r"\bwhat('s| is|s) (connected|hooked up|on (the )?(wi-?fi|network))\b|"
        r"\bqu'est-ce qui est (connecté|branché)|\bqué (hay|está) conectado|"
        r"\b(combien|quels?)\b.{0,25}\b(appareils?|clients?|équipements?|périphériques?|téléphones?|portables?|"
        r"ordinateurs?|tablettes?)|\bappareils?\b.{0,20}"
        r"\bconnectés?|"
        r"\b(cuánt\w*|qué)\b(?![^.?!]{0,40}\binform).{0,25}\b(dispositivos?|equipos?|clientes?|aparatos?|"
        r"móviles|teléfonos|portátiles|tablets?|ordenadores)|\bdispositivos?\b.{0,20}"
        r"\bconectad\w*", _I),
    "ssid": re.compile(
        r"\b(ssids?|network names?|wi-?fi names?|"
        r"name of (the |their |his |her |my |its )?(wireless |home |wi-?fi )?(wi-?fi|network|wlan)|"
        r"(wi-?fi|network) (is )?called|wlan-?name|name des wlans?|heißt (das|ihr|sein) wlan|wie heißt|"
        r"nom du (wifi|réseau)|s'appelle|nombre de (la )?(red|wifi)|cómo se llama)\b", _I),
    # the current passphrase asked for: a secret, never read back (answered as such)
    "passphrase": re.compile(r"\b(pass ?words?|pass ?phrases?|wi-?fi (key|code)|network key|wpa key|passwort|"
                             r"kennwort|wlan-?schlüssel|mot de passe|clé wi-?fi|clé wpa|contraseña|clave)\b|"
                             r"\[secret:\d+\]", _I),
    # the guest network: its name, whether it is on ("is the guest wifi on?", "wie heißt das Gastnetz?")
    "guest": re.compile(r"\b(guest\w*|gäste\w*|gast\w*|invité\w*|invitad\w*|visitor\w*|besucher\w*|visiteur\w*)\b",
                        _I),
    "dns": re.compile(r"\b(dns|name ?servers?|nameserver\w*|resolver\w*|serveurs? (de noms|dns)|"
                      r"servidor(es)? dns)\b", _I),
    "dfs": re.compile(r"\b(dfs|radar)\b", _I),
    "width": re.compile(r"\b(channel width|bandwidth|width|kanalbreite|bandbreite|breite|largeur( de canal)?|"
                        r"ancho( de canal| de banda)?)\b", _I),
    "channel": re.compile(r"\b(channels?|kanal|kanäle|canal|canaux|canales)\b", _I),
    "signal": re.compile(r"\b(signal|rssi|reception|empfang|signalstärke|réception|señal|cobertura)\b", _I),
    "why_changed": re.compile(
        r"\b(why|warum|wieso|weshalb|pourquoi|por qué|porqué)\b.{0,40}\b(chang\w*|set|moved|renamed|modified|"
        r"geändert|gesetzt|umbenannt|verstellt|changé\w*|modifié\w*|renommé\w*|cambi\w*|modific\w*|renombr\w*)|"
        r"\b(chang\w*|renamed|geändert|umbenannt|changé\w*|modifié\w*|renommé\w*|cambi\w*|modific\w*|renombr\w*)\b"
        r".{0,40}\b(why|warum|wieso|"
        r"pourquoi|por qué)\b", _I),
    "changes": re.compile(
        r"\b(chang\w*|modified|touched|renamed|geändert|änderung\w*|verändert|umbenannt|changé\w*|modifi\w*|"
        r"renommé\w*|cambi\w*|renombr\w*)\b|"
        r"\bwho (did|made|set)\b|\bwer hat\b|\bqui a\b|\bquién\b", _I),
    "campaigns": re.compile(
        r"\b(campaigns?|rollouts?|roll-outs?|kampagne\w*|campagne\w*|campañas?|despliegue\w*|déploiement\w*|"
        # "… pour le ticket", "… for the ticket": where the answer goes, not what is asked
        r"open (cases?|tickets?|proposals?)|cases?(?![-\w])|(?<!pour le )(?<!for the )(?<!für das )(?<!für den )"
        r"(?<!para el )(?<!in the )(?<!dans le )(?<!en el )(?<!ins )tickets?|pending (changes?|proposals?)|"
        r"remediation\w*|"
        r"offene\w* (fälle|vorgänge|änderungen)|fall|dossiers?|casos?|incidencias?)\b", _I),
}
# "why" questions about a symptom are diagnosed, not answered from facts.
_TOPIC_ORDER = ("known_bad", "why_changed", "campaigns", "changes", "signal", "hosts", "guest", "passphrase", "ssid",
                "dns", "dfs",
                "width", "channel", "uptime", "firmware", "presence")


@dataclass
class Clause:
    text: str
    act: Act
    topics: list[str] = field(default_factory=list)


@dataclass
class Understanding:
    """The message's clauses with their acts; what to answer, what may be an operation."""

    clauses: list[Clause]

    @property
    def questions(self) -> list[Clause]:
        return [c for c in self.clauses if c.act == "question"]

    @property
    def topics(self) -> list[str]:
        out: list[str] = []
        for c in self.questions:
            out += [t for t in c.topics if t not in out]
        return out

    @property
    def actionable(self) -> list[Clause]:
        """Clauses the operation matchers and the diagnosis may read: requests, plain statements
        and questions no fact answers ("is the wifi ok?", "why is it slow?" — a symptom asked as a
        question; destructive operations keep their own mood check in ``brain.understanding.actions``)."""
        return [c for c in self.clauses if c.act in ("request", "statement", "heading")
                or (c.act == "question" and not c.topics)]

    @property
    def only_acknowledgement(self) -> bool:
        """Nothing asked, nothing requested: reports of what works and things not to do."""
        return bool(self.clauses) and all(c.act in ("report", "negation") for c in self.clauses)

    @property
    def asks_only(self) -> bool:
        """Something is asked and nothing requested: a question (with or without the symptom told
        beside it) is answered, and a fix it suggests is offered, not drafted."""
        return (any(c.act == "question" for c in self.clauses)
                and not any(c.act in ("request", "negation") for c in self.clauses))

    def operation_text(self) -> str:
        return " ".join(c.text for c in self.actionable).strip()

    def question_text(self) -> str:
        return " ".join(c.text for c in self.questions if c.topics).strip()


# ---------------------------------------------------------------------------- splitting
def _quote_mask(text: str) -> list[bool]:
    """True for each character inside a quoted value (straight, curly, German and French quotes;
    an apostrophe opens a quote only after a non-letter, so "don't" and "c'est" do not)."""
    inside = [False] * len(text)
    close: str | None = None
    pairs = {'"': '"', "“": "”", "”": "”", "„": "“", "«": "»", "‘": "’", "'": "'"}
    for i, ch in enumerate(text):
        if close is None:
            if ch in pairs and (ch != "'" or i == 0 or not text[i - 1].isalnum()):
                rest = text[i + 1:]
                if pairs[ch] in rest:
                    close = pairs[ch]
                    inside[i] = True
        else:
            inside[i] = True
            if (ch == close or (close == "“" and ch == "”")) and (
                    ch != "'" or i + 1 == len(text) or not text[i + 1].isalnum()):
                close = None
    return inside


# A German day of the month: its ordinal's point ends no sentence ("starte ihn am 3. Dezember um 9 neu" lost its date
# to a clause of its own, read as a description)
_ORDINAL_DAY = re.compile(r"(?<![\w.,])\d{1,2}$")
_AFTER_ORDINAL = re.compile(r"\s+(?:jan\w*|feb\w*|märz|maerz|apr\w*|mai|jun\w*|jul\w*|aug\w*|sep\w*|okt\w*|nov\w*|"
                            r"dez\w*|um\b)", _I)


def split_clauses(text: str) -> list[str]:
    """Sentences, then commas/semicolons, then a conjunction that opens a new clause."""
    mask = _quote_mask(text)
    parts: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if mask[i]:
            continue
        if ch in ".?!;\n" or (ch == "," and not (i + 1 < len(text) and text[i + 1].isdigit())):
            if ch == "." and i + 1 < len(text) and not text[i + 1].isspace():
                continue  # 5.0.9, example.com
            if ch == "." and _ORDINAL_DAY.search(text, max(0, i - 3), i) and _AFTER_ORDINAL.match(text, i + 1):
                continue  # "am 3. Dezember um 9": a German ordinal, no sentence's end
            if ch == "," and _UNWANTED_THAT.match(text, i + 1) and _WANTS_NOT_END.search(text, start, i):
                continue  # "sie will nicht, dass das Passwort geändert wird": what is not wanted, one clause
            parts.append(text[start:i + 1])
            start = i + 1
    parts.append(text[start:])
    out: list[str] = []
    for p in parts:
        out += _split_conj(p, mask_offset=text.find(p), mask=mask)
    return [p.strip() for p in out if p.strip(" ,;.")]


# A conjunct that names another band and a value with the verb left out ("… and the 5 on 44", "… y el de 5 en
# el 44", "… und das 5er auf 44"): a second request of the same kind, its own clause.
_ELLIPTIC = re.compile(r"(?:(?:and|und|et|y)\s+)?(?:(?:the|el|la|le|das|den|die|el de|la de|de la)\s+)?"
                       r"(?:2\.4GHz|5GHz|6GHz)\b"
                       # a band said *to have* a number is a statement ("the 2.4GHz has 6 neighbours"), not a value
                       r"(?![^.;!?\d]{0,25}?\b(?:has|have|had|is|are|was|hat|haben|ist|sind|a|ont|est|sont|tiene|"
                       r"tienen|hay|está|están)\b)"
                       r"(?=[^.;!?]{0,25}?(?<![\d.])\d{1,3}\b)", re.I)


# a band and a bare number after it, in a clause with an operation verb ("put the 2.4GHz on 6")
_BAND_AND_NUMBER = re.compile(r"(?:2\.4GHz|5GHz|6GHz)\b[^.;!?\d]{0,12}?(?<![\d.])\d{1,3}\b(?!\s*(?:%|mhz|ghz))", re.I)


_BAND_ON_NUMBER = re.compile(r"(?:2\.4GHz|5GHz|6GHz)\s+(?:on|auf|sur|en)\s+(?:el\s+|le\s+)?\d{1,3}\b(?!\s*(?:%|mhz))",
                             re.I)


_SWITCHED = re.compile(r"\b(off|on|aus|an|ab|ein|éteins|apaga\w*|coupe\w*)\s*$", _I)


# ... only after a clause with a value of its own: "set the 2.4GHz and the 5GHz to channel 6" names two bands
# for one value (a band's own digits are no value)
_VALUE = re.compile(r"(?<![\w.,])\d+(?![\w.,]*GHz)", re.I)


def without_unwanted(text: str) -> str:
    """``text`` without its clauses that say what is not wanted ("… and she doesn't want the password changed"):
    the planner's matchers read the request, not the operation the customer ruled out beside it."""
    parts = split_clauses(text)
    kept = [p for p in parts if not (_NOT_WANTED_OPEN.match(p) and act_of(p) == "negation")]
    return " ".join(kept) if kept and len(kept) < len(parts) else text


def _split_conj(part: str, mask_offset: int, mask: list[bool]) -> list[str]:
    # "turn it off and on again" is one power-cycle of the gateway; a band's or the guest network's off and on
    # again are two changes ("schalte das 2,4er aus und morgen früh wieder an": off now, on tomorrow)
    toggled = bool(targets.bands_in(part)) or targets.role_in(part) == "guest"
    protected = [] if toggled else [(m.start(), m.end()) for m in OFF_AND_ON.finditer(part)]
    out, start = [], 0
    for m in _CONJ.finditer(part):
        pos = m.start()
        if any(a <= pos < b for a, b in protected):
            continue
        if 0 <= mask_offset + pos < len(mask) and mask[mask_offset + pos]:
            continue
        if _BARE_WH.match(part[m.end():]):
            continue  # "… and why?", "… und wann?": the same clause
        # "… and the 5 on 44" after a clause with a value of its own, or after a band switched off or on ("turn the
        # 5GHz off and the 2.4GHz to channel 11", "mach das 2,4er aus und das 5er auf Kanal 36": the switch was lost)
        if m.start() <= start or not _opens_clause(part, m, start, toggled):
            if m.group(1).lower() in ("but", "aber", "mais", "pero") and m.start() > start:
                pass  # "but" always opens a new clause
            else:
                continue
        out.append(part[start:m.start()])
        start = m.end()
    out.append(part[start:])
    return out


def _opens_clause(part: str, m: re.Match[str], start: int, toggled: bool) -> bool:
    """Whether what follows the conjunction ``m`` opens a clause of its own: a clause opener, an elliptic conjunct
    after a value or a switch, a band switched back on, what is not wanted, a German verb-final pair."""
    elliptic = _ELLIPTIC.match(part, m.end()) and (_VALUE.search(part, start, m.start())
                                                    or _SWITCHED.search(part, start, m.start()))
    return bool(_CLAUSE_OPEN.match(part, m.end()) or elliptic or (toggled and BACK_ON.match(part, m.end()))
                or _NOT_WANTED_OPEN.match(part, m.end())
                or _verb_final_pair(part[start:m.start()], m.group(1), part[m.end():]))


# "… and back on tomorrow", "… und morgen früh wieder an", "… y vuelve a encenderla": a band or network switched
# back on, a request of its own (``_split_conj``)
BACK_ON = re.compile(r"\s*(?:\w+\s+){0,3}?(?:back\s+on|on\s+again|wieder\s+(?:ein|an)\w*|"
                      r"vuelv\w*\s+a\s+(?:encend|activ|prend)\w*|rallum\w*|réactiv\w*|remets?-(?:le|la|les)|"
                      r"remettre|remettez-(?:le|la|les)|(?:le|la|les)\s+remettre|"
                      r"(?:turn|switch|put)\s+(?:it|them)\s+back)", _I)


# German puts the verb last: "Gäste-WLAN einschalten und das Haupt-WLAN … umbenennen" is two requests, though
# nothing opens the second (the rename was read alone, on the guest network the first one named).
_VERB_LAST = re.compile(r"\b(ein|aus|an|ab|um|neu\s*)?(schalten|aktivieren|deaktivieren|benennen|ändern|stellen|setzen|"
                        r"starten|machen|drehen)(\s+(bitte|mal|danke))*\s*[.!]?\s*$", _I)


def _verb_final_pair(before: str, conj: str, after: str) -> bool:
    """Two German clauses joined by "und", each ending in its own operation verb."""
    second = re.split(r"[,;.!?]", after, maxsplit=1)[0]
    return conj.lower().startswith("und") and bool(_VERB_LAST.search(before)) and bool(
        _VERB_LAST.search(second) or _BAND_AND_NUMBER.search(second))  # "… einschalten und den 5er auf Kanal 44"


# ---------------------------------------------------------------------------- classification
# A negation scopes over an operation when the verb follows within three words ("don't reboot",
# "no need to change anything", "auf keinen Fall neu starten", "ne pas redémarrer", "no lo
# reinicies"), or — German word order — "starte sie bitte nicht neu".
_NEG_OP = re.compile(_NEGATION.pattern + r"\W*(\w+\W+){0,3}?(" + OP_VERB.pattern + r")|"
                     r"\b(starte|setz|änder|schalt)\w*\b.{0,30}\b(nicht|keinesfalls|bloß nicht)\b", _I)
# "nothing works", "no funciona nada", "rien ne marche", "funktioniert nicht": a symptom, not a report.
# ... and a state said not to hold: "is not fine", "isn't stable", "ça marche pas", "ça marche plus"
_NOT_WORKING = re.compile(_NEGATION.pattern + r"|\b(nothing|nichts|rien|nada|ningún|aucun\w*|not|isn'?t|aren'?t|"
                          r"wasn'?t|weren'?t|pas|(?:marche|fonctionne|va) plus)\b", _I)
# Advice asked as a question ("which channel should it use?") is for the diagnosis, not a fact.
_ADVICE = re.compile(r"\b(should|ought|would be (best|better)|sollte\w*|soll|wäre besser|devrai\w*|faudrait|"
                     r"deber\w*|convendr\w*|sería mejor|recommend\w*|empfiehl\w*|conseill\w*|recomiend\w*)\b", _I)


def _is_report(c: str) -> bool:
    m = _REPORT.search(c)
    if m is None:
        return False
    # a negation anywhere in the clause, the report's own words too: "the wifi is not fine", "still not good" (the
    # words between the verb and "fine" were never looked at: "it works" acknowledged a fault)
    return not _NOT_WORKING.search(c)


def _act_by_marker(c: str) -> Act | None:
    """The act a marker settles before anything else: "tell me …", a question that opens and ends as one
    ("… seit wann läuft sie ohne Neustart?" asks; its "ohne Neustart" rules nothing out), a negated operation."""
    if _TELL_ME.search(c) or _READ_IT.search(c):
        return "question"
    if _QUESTION_OPEN.match(c) and c.endswith("?") and not _ES_PUNCTUATED.match(c) and not _DO_IMPERATIVE.match(c):
        return "question"
    if _NEG_OP.search(c) or ((m := _NOT_WANTED_OPEN.match(c)) is not None
                             and (OP_VERB.search(c, m.end()) or _DONE_TO.search(c, m.end()))):
        return "negation"  # "elle ne veut pas qu'on change le mot de passe": not wanted, so ruled out
    return None


def act_of(clause: str) -> Act:
    c = clause.strip()
    marked = _act_by_marker(c)
    if marked is not None:
        return marked
    modal = _MODAL.search(c)
    opens = _QUESTION_OPEN.match(c)
    asks = c.endswith("?")
    # "hay gente conectada" (no "¿", no "?") states; "do the reboot after lunch" is an imperative, not "do …?"
    if opens and not asks and ((_ES_PUNCTUATED.match(c) and "¿" not in c) or _DO_IMPERATIVE.match(c)):
        opens = None
    if modal and not (opens and opens.end() <= modal.start() and not modal.group(0).lower().startswith(
            ("can", "could", "would", "will", "kannst", "könnt", "können", "peux", "pouvez", "pourr", "puedes",
             "podr", "puede", "tu peux", "vous pouvez", "tu pourr"))):
        return "request"
    if _is_report(c) and not asks and not opens:
        return "report"
    if opens:
        return "question"
    if asks:
        # a bare heading ("wifi password?" before "make it X") introduces what follows; a longer
        # clause with a question mark asks ("the 5 GHz radio is on a DFS channel?")
        return "question" if len(re.findall(r"\w+", c)) > 3 else "heading"
    return "statement"


# A topic that, found beside another, is the other's detail rather than a question of its own
# ("why was the channel changed?" is the history; "the guest network's name" is the guest network).
_SUBSUMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("known_bad", ("firmware",)), ("dfs", ("channel",)), ("signal", ("hosts",)),
    ("guest", ("ssid", "presence", "hosts")),
)


def topics_of(clause: str) -> list[str]:
    found = [t for t in _TOPIC_ORDER if TOPICS[t].search(clause)]
    if "why_changed" in found:
        found = [t for t in found if t not in ("changes", "channel", "ssid", "width")] or found
    for topic, detail in _SUBSUMES:
        if topic in found:
            found = [t for t in found if t not in detail]
    if "width" in found and "channel" in found and re.search(r"channel width|kanalbreite|largeur de canal|"
                                                              r"ancho de canal", clause, _I):
        found.remove("channel")
    if "passphrase" in found and ("why_changed" in found or "changes" in found):
        found.remove("passphrase")  # "who changed the password?" is about the history
    return found


_WHY = re.compile(r"^\W*(?:¿\s*)?(why|warum|wieso|weshalb|pourquoi|por ?qu[ée])\b", _I)
# Topics a bare "which one?" can take over from the clause before ("don't touch the channel, just
# tell me which one it is on").
_CARRIED = ("channel", "width", "ssid", "firmware", "hosts", "uptime")


# What a question about a fact names beyond function words; a symptom ("is the wifi slow?", "is the 5 GHz
# band congested?") is for the diagnosis, never looked up in the data model.
_SYMPTOM = re.compile(
    r"\b(slow\w*|congest\w*|busy|crowded|drop\w*|disconnect\w*|interfer\w*|lag\w*|stutter\w*|buffer\w*|"
    r"freez\w*|weak\w*|bad|worse|problem\w*|issues?|fault\w*|broken|wrong|dies|dying|dead|down|unstable|"
    r"langsam\w*|überlast\w*|voll|abbr\w*|stör\w*|schwach\w*|schlecht\w*|kaputt|instabil|hängt|"
    r"lent\w*|saturé\w*|coupe\w*|faible\w*|mauvais\w*|problème\w*|panne|instable|"
    r"lento\w*|saturad\w*|se corta\w*|cae|débil\w*|mal[oa]|(?:va|funciona|anda|está|iba) mal|"
    r"problema\w*|avería|inestable|"
    r"help|helps|bringen|servir\w*|aider|ayudar\w*|worth|lohnt|vaut|vale|"
    r"brouill\w*|gên\w*|voisin\w*|vecin\w*|nachbar\w*|neighbou?r\w*|interférence\w*|interferencia\w*|"
    r"störung\w*|überlapp\w*|overlap\w*|chevauch\w*|solap\w*)\b", _I)
def describes_a_symptom(text: str) -> bool:
    """The text tells of a problem ("the internet is down", "la wifi va mal", "hängt ständig")."""
    return bool(_SYMPTOM.search(text) or _NOT_WORKING_SAID.search(text))


_NOT_WORKING_SAID = re.compile(r"\b(not working|doesn'?t work|no internet|kein internet|geht nicht|funktioniert nicht|"
                               r"ne marche pas|ne fonctionne pas|pas d'internet|no funciona|no va|sin internet)\b", _I)
_NO_FACT = re.compile(
    r"\b(what|which|how|is|are|was|does|do|did|has|have|any|the|a|an|it|its|this|that|on|in|at|of|for|to|now|"
    r"right|currently|still|so|and|also|about|there|then|again|exactly|going|happen\w*|matter|up|actually|"
    r"really|eigentlich|denn|vraiment|exactement|donc|realmente|exactamente|pues|"
    r"hello|hi|hey|hallo|bonjour|salut|hola|buenas|thanks|danke|merci|gracias|please|bitte|"
    r"status|state|health|zustand|état|estado|stand|situation|situación|everything|alles|tout|todo|ok|okay|"
    r"und|the|beim|bei|der|die|das|im|ist|sind|wie|was|welche\w*|jetzt|gerade|noch|auch|dann|genau|"
    r"et|le|la|les|du|de|des|sur|est|quel\w*|maintenant|aussi|alors|pour|für|for|para|"
    r"y|el|los|las|en|es|qué|cuál\w*|ahora|también|entonces|"
    r"one|network|wi-?fi|wlan|réseau|red|band|bande|banda|side|seite|côté|lado|er|ones?)\b|"
    r"\b(2\.4GHz|5GHz|6GHz)\b|[^\w\s]|\d+", _I)


_FOLLOW_UP = re.compile(r"^\W*(and|und|et|y|what about|how about|and what about|and for|und bei\w*|und für|"
                        r"et pour|et sur|et le|et la|y (el|la|en|para|del))\b", _I)
_WHEN_IT = re.compile(r"when|wann|quand|cuándo|cuando|time|uhr|heure|hora|will|wird|va|van|run\w*|läuft|"
                      r"passiert|geschieht|passe|arrive|pasa|ocurre|done|fait|hecho|erledigt", _I)


def _fact_topics(part: str) -> list[str]:
    """A question no topic answers: looked up in the data model ("lookup") when it names something, or a
    follow-up that only names another band or network ("and the 5 GHz?": "again", the previous topic)."""
    if _WHY.match(part) or _ADVICE.search(part) or _SYMPTOM.search(part) or _operation(part) is not None:
        return []  # a symptom or advice is diagnosed; a question naming an operation asks about its state
    if "[secret" in part:
        return []  # a masked value ("hmm maybe [secret]?") answers the planner's question: never looked up
    if targets.bare_band(part):
        return ["again"]  # "and the 6?": the question before, of the 6 GHz band
    named = targets.bands_in(targets.normalise_bands(part)) or targets.role_in(part)
    rest = _NO_FACT.sub(" ", targets.normalise_bands(part)).split()
    if not rest:
        full = _QUESTION_OPEN.match(part) and not _FOLLOW_UP.match(part)
        return ["again"] if named and not full else []
    if all(_WHEN_IT.fullmatch(w) for w in rest):
        return ["schedule"]  # "so when does that happen?": the thread's waiting change, when it runs
    return ["lookup"]


# A modal inverted with its subject — not "you"/"we", which make it a request ("could you …") — opens a question
# when its sentence ends in "?": "could the 5 GHz go on channel 40 instead, or would that clash …?"
_INVERTED_MODAL = re.compile(r"^\W*(could|would|should|can|might|may|will|könnte\w*|würde\w*|sollte\w*|kann|"
                             r"pourrai\w*|pourrait|podría\w*|puede)\s+(?!(you|u|we|i|du|ihr|wir|sie|tu|vous|nous|usted|"
                             r"ustedes|man)\b)\w", _I)


def _asked_in_sentence(parts: list[str], i: int) -> bool:
    """``parts[i]`` opens with an inverted modal and its sentence ends with a question mark."""
    if not _INVERTED_MODAL.match(parts[i]):
        return False
    end = next((p for p in parts[i:] if p.rstrip().endswith((".", "!", "?"))), parts[-1])
    return end.rstrip().endswith("?")


def understand(text: str, day_instead: bool = False) -> Understanding:
    """The message's clauses and their acts; ``day_instead``: the time reader found a day ruled out by a "no" that
    is the day's (``_another_day_instead``)."""
    clauses: list[Clause] = []
    parts = split_clauses(text)
    for i, part in enumerate(parts):
        act = act_of(part)
        if act == "statement" and _asked_in_sentence(parts, i):
            act = "question"
        if act == "question" and _DE_V1.match(part) and not part.rstrip().endswith("?") and any(
                p.rstrip().endswith("?") for p in parts):
            act = "statement"  # "kannst du das 6 GHz abschalten? hat eh kein Gerät, das das kann": said, not asked
        if act == "heading" and (i == len(parts) - 1 or act_of(parts[i + 1]) in ("question", "heading")):
            act = "question"  # "firmware?" on its own asks; a heading only introduces a request after it
        if act == "question":
            part, topics = _question_topics(part, clauses)
        else:
            topics = []
        clauses.append(Clause(part, act, topics))
    _negation_continued(clauses)
    if day_instead:
        _another_day_instead(clauses)
    return Understanding(clauses)


# "… morgen auch nicht", "… ni demain", "… not tomorrow either", "… ni mañana tampoco": the negation before, again
_NOT_EITHER = re.compile(r"\b(auch nicht|ebenfalls nicht|either|neither|nor|non plus|tampoco)\b|^\W*(ni|nor|noch)\b",
                         _I)


def _negation_continued(clauses: list[Clause]) -> None:
    """A clause that only carries the negation before it further is that negation too."""
    for before, c in itertools.pairwise(clauses):
        if before.act == "negation" and c.act == "statement" and _NOT_EITHER.search(c.text) and _operation(
                c.text) is None:
            c.act = "negation"


def _another_day_instead(clauses: list[Clause]) -> None:
    """"heute bitte keinen Neustart mehr, mach den erst morgen früh um 5", "no reboot today, tomorrow at 6 is fine",
    "pas de redémarrage aujourd'hui, plutôt demain à 6h": the negation ruled out the day (``when.When.day_instead``
    says so; the days are already taken out of the text), not the operation — the one negated operation is asked for
    on the other day. "don't reboot today, the customer is home tomorrow" is no such message and stays a negation."""
    negated = [c for c in clauses if c.act == "negation"]
    if len(negated) != 1 or any(_operation(c.text) is not None for c in clauses if c.act != "negation"):
        return  # "don't change the channel today, reboot it tomorrow instead": the reboot is what is asked
    c = negated[0]
    # "hoy ya no lo reinicies": without its "no", "ya lo reinicies" is something already done
    text = re.sub(r"\s+", " ", _NEGATION.sub(" ", re.sub(r"\b(ya|plus|mehr)\b", " ", c.text, flags=_I))).strip(" ,;")
    if _operation(text) is not None:
        c.text, c.act = text, "request"


def _question_topics(part: str, clauses: list[Clause]) -> tuple[str, list[str]]:
    """What a question asks about: its own topics, else one carried from the clause before, else the fact the
    clause before names (that clause taken into it), else a lookup in the data model."""
    topics = topics_of(part)
    if (_WHY.match(part) and "why_changed" not in topics) or _ADVICE.search(part):
        topics = []  # "why is the wifi slow?", "which channel should it use?": for the diagnosis
    if not topics and clauses and not _WHY.match(part):
        topics = [t for t in topics_of(clauses[-1].text) if t in _CARRIED]
    if (not topics and clauses and clauses[-1].act in ("statement", "request") and _READ_IT.search(part)
            and _operation(clauses[-1].text) is None):
        # "le client me demande l'adresse MAC du 5 GHz, tu peux me la donner ?": the fact is the clause before's
        prev = clauses.pop()
        part = f"{prev.text} {part}"
        topics = topics_of(part) or _fact_topics(prev.text)
    return part, topics or _fact_topics(part)


# German verb-first openers that also start a statement with its subject left out ("hat eh kein Gerät …")
_DE_V1 = re.compile(r"^\W*(ist|sind|hat|haben|gibt|läuft|laufen|hängt|hängen)\s+(eh|ja|doch|sowieso|eigentlich|"
                    r"kein\w*|nie|nur|schon|bestimmt|auch)\b", _I)
# A read asked for with the fact left to the clause before ("… tu peux me la donner ?", "… kannst du die mal
# nachgucken?", "… can you look it up?", "… me lo pasas?")
_READ_IT = re.compile(r"^\W*(what|which) (is|was) (it|that)\W*$|^\W*(c'est|ce serait) quoi\W*$|"
                      r"^\W*(was|wie) (ist|lautet) (die|der|das|sie|er|es)\W*$|^\W*(cuál|qué) es\W*$|"
                      r"\b(tu peux|vous pouvez|peux-tu|pouvez-vous) (regarder|vérifier|voir)\W*$|"
                      r"\b(kannst du|können sie) (mal |bitte |kurz )*(schauen|gucken|nachsehen)\W*$|"
                      r"\b(puedes|podés|podrías) (mirar|ver|revisar)(lo|la)?\W*$|"
                      r"\b(me (la|le|les) (donner|filer|passer|dire|trouver)|donne-la|donne-le|"
                      r"(die|das|den|sie|es) (mal |bitte |kurz )*(nachgucken|nachschauen|nachsehen|raussuchen|sagen|"
                      r"geben)|(look|check) (it|that|them) up|(find|get|give me|send me|read) (it|that|them)\b|"
                      r"me (lo|la|los|las) (pasas|das|dices|buscas|miras)|pásame(lo|la|los|las)|"
                      r"dímelo|dímela|búscalo|búscala)", _I)


# ---------------------------------------------------------------------------- the planner's view
_OP_LABEL = {"reboot": "a reboot of the gateway", "factory_reset": "a factory reset", "channel": "a channel change",
             "width": "a channel-width change", "power": "a transmit-power change", "band_enable": "a band on/off",
             "ssid_enable": "turning the guest network on or off", "ssid_hide": "hiding a network's name",
             "dns": "a DNS server change", "inform_interval": "an inform-interval change", "ping": "a ping",
             "dhcp_lease": "a DHCP lease-time change",
             "traceroute": "a traceroute", "speedtest": "a speed test"}


@dataclass
class Heard:
    """What the planner acts on: ``text`` for the operation matchers and the diagnosis (empty when
    the message only asks), the question topics to answer, operations deferred to a later turn,
    or an acknowledgement when nothing is asked or requested."""

    text: str
    answers: list[str]
    question_text: str
    deferred: list[str]
    acknowledged: Any = None
    # The message asks and requests nothing ("is the 5 GHz band congested?", "the wifi crawls, what's
    # going on?"): the diagnosis runs, but what it would fix is offered, never drafted.
    read_only: bool = False
    # The question names an operation ("is the 5 GHz radio on?", "läuft das 2,4er auf Kanal 6?"): it asks
    # about the state that operation would set — answered from a live read of it, never drafted.
    asks_about_operation: bool = False


def heard(text: str, day_instead: bool = False) -> Heard:
    """The message as the planner should act on it (a person's message; jobs send triggers)."""
    u = understand(text, day_instead)
    if u.only_acknowledgement:
        negated = any(c.act == "negation" for c in u.clauses)
        ack = Plan(outcome="answer", finding="acknowledged", text=(
            "Noted — nothing to draft: " + ("you report that it works" if any(c.act == "report" for c in u.clauses)
                                            else "nothing was asked")
            + (", and I will not run the operation you ruled out" if negated else "")
            + ". If something is still wrong, tell me the symptom and I'll look at the evidence."))
        return Heard("", [], "", [], ack)
    if not u.actionable:  # only questions answered from facts: nothing may be drafted — unless one names an
        # operation ("reboot it?"), whose own mood check decides
        return Heard("", u.topics, u.question_text(), [],
                     read_only=not any(OP_VERB.search(c.text) for c in u.clauses))
    ops, rest, said, asked = _operations(u)
    deferred = [_deferred_label(label, said.get(id(c), c.text)) for c, label in ops[1:]]
    keep = ([ops[0][0]] if ops else []) + rest
    op_text = " ".join(said.get(id(c), c.text) for c in sorted(keep, key=u.clauses.index)).strip()
    if deferred and _one_operation(ops, said):
        deferred, op_text = [], u.operation_text()  # one operation spread over clauses ("rename it, call it X")
    if u.topics and not ops and classify(op_text) in (Intent.UNKNOWN, Intent.STATUS):
        op_text = ""  # the rest is context ("the customer is on the phone"), not a problem to diagnose
    return Heard(op_text, u.topics, u.question_text(), deferred, read_only=u.asks_only and not ops,
                 asks_about_operation=asked and u.asks_only and not ops)


def _operations(u: Understanding) -> tuple[list[tuple[Clause, str]], list[Clause], dict[int, str], bool]:
    """The actionable clauses' operations (in order), the other clauses, the words a clause was read as
    when its object came from an earlier one, and whether an operation was named inside a question."""
    ops: list[tuple[Clause, str]] = []
    rest: list[Clause] = []
    # the object an earlier clause named ("the guest network", "their DNS" in a question before), for
    # "… and switch it on" and "if it is empty, set 1.1.1.1 and 8.8.8.8"
    named = ""
    said: dict[int, str] = {}  # a clause read with the object named before it
    actionable = set(map(id, u.actionable))
    asked = False  # an operation named inside a question ("is the 5 GHz radio on?") is what it asks about
    before = ""
    for c in u.clauses:
        if id(c) in actionable:
            kind, read_as = _clause_operation(c.text, named, bool(_SWITCHED.search(before.rstrip(" ,;."))))
            if read_as is not None:
                said[id(c)] = read_as
            if kind is not None and c.act != "question":
                ops.append((c, kind))
            else:
                asked = asked or kind is not None
                rest.append(c)
        named = object_words(c.text) or named
        before = c.text
    return ops, rest, said, asked


def _clause_operation(text: str, named: str, after_switch: bool = False) -> tuple[str | None, str | None]:
    """The operation a clause asks for, and the words it was read as when the object comes from an
    earlier clause: a pronoun ("… and switch it on"), an address, or an elliptical conjunct ("… y el de 5
    en el 44": the earlier clause's object, not its band). ``after_switch``: the clause before switched a band
    off or on ("turn the 5 GHz off and the 2.4 to 11"), so a bare number is the channel set on its own."""
    kind = _operation(text)
    if kind is not None or not named:
        return kind, None
    if PRONOUN_OBJECT.search(text) or ADDRESS.search(text):
        read = f"{named} {text}"
    elif _ELLIPTIC.match(text) or (OP_VERB.search(text) and _BAND_AND_NUMBER.search(text)):
        # "… and the 5GHz on 44", "what's the 6GHz channel? and put the 2.4GHz on 6": the setting named before —
        # or, named none, a band put "on" a number is put on that channel ("what DNS …? and put the 2.4GHz on 6")
        setting = " ".join(w for w in named.split() if not re.fullmatch(r"2\.4GHz|5GHz|6GHz", w))
        if "channel" not in setting.split() and not _ELLIPTIC.match(text) and _BAND_ON_NUMBER.search(text):
            setting = "channel"  # "turn off the guest network … and put the 5GHz on 44": a channel, not the network
        read = f"set {text}" if after_switch and not setting.strip() else f"{setting} {text}"
        if _operation(read) is None and (setting.split() == ["channel"] or after_switch):
            # "y el de 2.4GHz ponlo en el 11": the channel word said where the number is
            read = re.sub(r"(?<![\d.])(\d{1,3})(?!.*\d)", r"channel \1", text, count=1)
    else:
        return None, None
    kind = _operation(read)
    return kind, read if kind is not None else None


def _one_operation(ops: list[tuple[Clause, str]], said: dict[int, str]) -> bool:
    """Several clauses that are one operation ("rename it, call it X"): the same kind, and at most one
    value with its band — two values or two bands are two requests ("2.4 on 1 and the 5 on 44")."""
    if len({label for _, label in ops}) != 1:
        return False
    read = [actions.parse(said.get(id(c), c.text)) for c, _ in ops]
    valued = {(r.band, r.value) for r in read if r is not None and r.value is not None}
    # "customer wants max power. set the 5 GHz transmit power to 100%": one value, said once without its band
    return len(valued) <= 1 or (len({v for _, v in valued}) == 1 and len({b for b, _ in valued if b}) == 1)


def _deferred_label(label: str, text: str) -> str:
    """"a channel change" with what it would set ("44 on 5GHz"), when the clause says it."""
    r = actions.parse(text)
    if r is None or r.value is None:
        return label
    if isinstance(r.value, bool):  # "a band on/off (on, 5GHz)", not "(True on 5GHz)"
        return f"{label} ({'on' if r.value else 'off'}{', ' + r.band if r.band else ''})"
    return f"{label} ({r.value}{' on ' + r.band if r.band else ''})"


# A clause whose object is a pronoun or left out ("switch it on", "active-le", "und dann eingeschaltet werden")
PRONOUN_OBJECT = re.compile(r"\b(it|them|that one|es|ihn|sie|das|le|la|les|lo|los|las)\b|-(le|la|les|lo|la)\b|"
                            r"\b(werden|wird)\s*[.!]?\s*$|^\W*(then\s+|dann\s+|puis\s+|luego\s+)?\w+\s*[.!]?\s*$|"
                            r"^\W*(\w+\s+){0,3}(wieder|erneut|back)\s+\w+\s*[.!,;]?\s*$|\b\w{3,}(ar|er|ir)(lo|la|los|las)\b",
                            re.I)


def object_words(text: str) -> str:
    """The SSID role, bands, DNS and channel a clause names, as words an operation matcher reads ("guest 5GHz")."""
    role = targets.role_in(text)
    bands = targets.bands_in(targets.normalise_bands(text))
    named = [w for w, rx in _OBJECTS if rx.search(text)]
    return " ".join([*(["guest network"] if role == "guest" else []), *bands, *named])


_OBJECTS = (("DNS", re.compile(r"\b(dns|name ?servers?|nameserver\w*)\b", re.I)),
            ("channel", re.compile(r"\b(channel|kanal|canal)\b", re.I)))
ADDRESS = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")


def _operation(clause: str) -> str | None:
    kind = classify(clause)
    if kind in (Intent.SSID, Intent.CREDENTIALS):
        return "the rename of the Wi-Fi network"
    if kind == Intent.PASSPHRASE:
        return "the passphrase change"
    if kind == Intent.REQUEST:
        req = actions.parse(clause)
        return _OP_LABEL.get(req.action, req.action) if req is not None else None
    return None
