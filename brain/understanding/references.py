"""A message that answers or amends the planner's last turn: a confirmation, a withdrawal, a correction.

Why whole-message rules: "yes" applies a draft; "yes but use 44" must not — a confirmation that
also changes something is a correction. So a message confirms only when, past its confirmation
words, nothing is left but chatter ("sure, do it", "ja mach", "vas-y", "dale", "ok thanks 👍"); it
withdraws likewise ("no", "cancel", "lass es", "laisse tomber", "olvídalo"). A correction is
marked ("scratch that", "actually", "I meant", "I misspelled it", "lieber", "ich meinte",
"plutôt", "je voulais dire", "mejor", "quise decir") or is a bare value answering a draft — it keeps
the earlier request and replaces what it names (``brain.understanding.offline``).
"""

from __future__ import annotations

import re

from brain.understanding.request import Reference

_I = re.IGNORECASE


def _phrases(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(p.split()) for p in text.split("|"))


# Phrases, matched word by word over the message (linear in its length: no regex with nested repeats, which
# a crafted run of punctuation turned into minutes of backtracking).
_CONFIRM = _phrases(
    "yes|yep|yeah|yup|ya|y|sure|sure thing|ok|okay|k|kk|go|go ahead|go for it|do it|please do|sounds good|perfect|"
    "fine|alright|all right|confirm|confirmed|apply|apply it|apply it now|let's do it|lets do it|let's do that|"
    "that's right|that's correct|that's it|correct|right|absolutely|of course|definitely|yes please|send it|ship it|"
    "push it|go on|do that|ja|jawohl|jap|jepp|jep|jupp|jup|jo|klar|ab dafür|ab damit|so abschicken|passt so|"
    "gerne|gern|mach|mach das|mach es|machs|machen|passt|in ordnung|los|"
    "genau|einverstanden|richtig|ja bitte|anwenden|raus damit|abschicken|schick es|schick ab|oui|ouais|d'accord|dac|"
    "vas-y|allez-y|c'est bon|parfait|entendu|bien sûr|fais-le|faites-le|volontiers|exact|applique|appliquer|nickel|"
    "valide|envoie|envoyer|go pour|sí|si|vale|claro|claro que sí|dale|adelante|hazlo|de acuerdo|perfecto|venga|"
    "por supuesto|correcto|exacto|aplica|aplícalo|tira|mándalo|envíalo|listo|eso es|eso|así es|asi es|justo|"
    "es correcto|está bien|esta bien|exactly|spot on|looks good|lgtm|good to go|that works|works for me|"
    "that's the one|yes that's it|stimmt|genau das|so ist es|richtig so|passt genau|korrekt|c'est ça|c'est ca|"
    "exactement|ça marche|ca marche|très bien|tres bien|c'est parfait")
_CANCEL = _phrases(
    "no|nope|nah|cancel|stop|don't|dont|abort|withdraw|never mind|nevermind|forget it|leave it|leave it as it is|"
    "leave it alone|leave it be|scrap it|scrap that|not now|maybe later|don't bother|dont bother|keep it as it is|"
    "keep it as is|keep it|nein|abbrechen|lass es|lass es so|lass es lieber|lass das|vergiss es|doch nicht|stopp|"
    "nicht|lieber nicht|so lassen|non|annule|annuler|annulez|laisse tomber|laisse|laisse comme ça|oublie|arrête|"
    "pas la peine|pas maintenant|on garde comme c'est|on garde comme ça|garde comme c'est|cancela|cancélalo|cancelalo|"
    "olvídalo|olvidalo|déjalo|déjalo así|dejalo|dejalo asi|déjalo así como está|como está|para|no gracias|mejor no")
_CHATTER = _phrases(
    "thanks|thank|thank you|thx|ty|cheers|please|pls|plz|then|now|for now|lol|great|cool|nice|hmm|hmmm|uh|um|well|ah|"
    "oh|actually|thing|it|that|so|mate|man|bro|genau so|danke|bitte|dann|jetzt|erstmal|vorerst|mal|doch|bon|euh|"
    # "no wait, leave it", "warte, lass es", "attends, laisse tomber", "espera, déjalo": a pause before the word
    "wait|hold on|hang on|one sec|warte|moment|attends|attendez|espera|espere|"
    "pour l'instant|merci|svp|stp|alors|maintenant|gracias|por favor|entonces|ahora|bueno|ya|pues|:)|👍|🙏|✅")
_WORD = re.compile(r"[^\s,.!?;:…]+")


def _covers(words: list[str], first: frozenset[tuple[str, ...]], rest: frozenset[tuple[str, ...]]) -> bool:
    """The words are phrases of ``rest`` (or ``first``) only, with at least one of ``first``: greedy,
    longest phrase first, each word looked at a bounded number of times."""
    longest = max(len(p) for p in first | rest)
    i, seen = 0, False
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            chunk = tuple(words[i:i + n])
            if chunk in first:
                seen, i = True, i + n
                break
            if chunk in rest:
                i += n
                break
        else:
            return False
    return seen


def _words(text: str) -> list[str]:
    # a confirmation is short; a long message is never only one (and is never scanned word by word here)
    return [w.lower() for w in _WORD.findall(text[:200])] if len(text) <= 200 else []


_CORRECTION = re.compile(
    r"\b(scratch that|strike that|actually|instead|i meant|i mean|meant to say|make (it|that)|rather|no wait|"
    r"wait,? no|my bad|correction|sorry|oops|i misspelled|misspelled|typo|should (be|have been)|change (it|that) to|"
    r"not \S+,? but|not the|the other one|"
    r"stattdessen|lieber|eigentlich|ich meinte|ich meine|vertippt|verschrieben|tippfehler|korrektur|sorry|"
    r"nein,? (doch|lieber)|richtig ist|korrekt ist|nicht das|"
    r"doch lieber|sollte .{1,30} sein|mach (lieber|doch)|"
    r"plutôt|en fait|je voulais dire|je veux dire|pardon|désolé\w*|correction|faute de frappe|au lieu de|pas la|"
    r"pas le|pas l'|pas l’|finalement|au final|"
    r"mejor|en realidad|quise decir|quiero decir|perdón|perdona|me equivoqué|errata|en vez de|en lugar de|"
    r"corrijo|no la|no el|"
    # "on second thought 75 is probably better", "hmm no, 80 would be better", "go with 44"
    r"on (?:second|2nd) thoughts?|(?:second|2nd) thoughts|(?:is|would be|'d be|'s) (?:probably |maybe |actually )?"
    r"better|go with|"
    # a later time for the draft: "wait until 10 pm", "push it to 11 pm", "verschieb das auf morgen", "repousse à
    # demain", "pospónlo a mañana"
    r"wait (?:until|till)|push (?:it|that) (?:back )?to|postpone\w*|delay (?:it|that)|verschieb\w*|warte bis|"
    r"repousse\w*|décale\w*|pospón\w*|posponlo|aplaza\w*|retrásalo|"
    r"wäre (?:wohl |doch )?besser|ist (?:wohl |doch )?besser|réflexion faite|ce serait mieux|"
    r"pensándolo bien|sería mejor)\b",
    _I)


# "better tomorrow at 6", "rather tonight": a time offered in place of the draft's, said first ("the wifi is better at
# night" is no correction)
_TIME_INSTEAD = re.compile(r"^\W*(?:no,?\s+)?(better|rather)\s+(?=(?:tomorrow|tonight|today|later|at|after|on|next|"
                           r"this|in the)\b)", _I)


def _correction(text: str) -> re.Match[str] | None:
    return _CORRECTION.search(text[:2000]) or _TIME_INSTEAD.match(text)


def correcting(text: str) -> bool:
    """The text marks itself as a correction ("actually", "I meant", "plutôt", "mejor", "better tomorrow")."""
    return _correction(text) is not None


def find(text: str, *, after_draft: bool) -> Reference | None:
    """What ``text`` says about the last turn; ``after_draft``: the planner's last turn drafted or
    asked something this message can answer."""
    t = text.strip()
    if not t:
        return None
    words = _words(t)
    if words and _covers(words, _CANCEL, _CHATTER | _CANCEL) and not _covers(words, _CONFIRM, _CHATTER):
        return Reference(kind="cancel", words=t)
    if words and words[0] not in ("please", "bitte", "por") and _covers(words, _CONFIRM, _CHATTER | _CONFIRM):
        return Reference(kind="confirm", words=t)
    m = _correction(t)
    if m is not None and after_draft:
        return Reference(kind="correct", words=m.group(0))
    return None


def confirms(text: str) -> bool:
    return (r := find(text, after_draft=True)) is not None and r.kind == "confirm"


def cancels(text: str) -> bool:
    return (r := find(text, after_draft=True)) is not None and r.kind == "cancel"
