"""Chat redaction measured on a corpus (issue 10 defect 4): every phrasing of a passphrase in
English, German, French and Spanish — quoted or not, keyword before or after — is redacted (0
leaks), the planner's vault gets the exact value, and ordinary support sentences (including SSID
renames) come back untouched. Recall and the false-positive rate are printed (``-s``) and recorded
as junit properties."""

from __future__ import annotations

from collections import Counter
from typing import Any

from brain.redact import redact, scrub_text
from tests.brain.redact_corpus import CHANGE_THE_WIFI_PASSWORD_TO, NEGATIVE, POSITIVE

QUOTES = "\"'“”„«»‘’"


def test_the_corpus_covers_languages_quoting_and_word_order() -> None:
    assert len(POSITIVE) >= 60 and len(NEGATIVE) >= 30 and len(CHANGE_THE_WIFI_PASSWORD_TO) == 16
    langs = Counter(lang for lang, _, _ in POSITIVE)
    assert all(langs[lang] >= 12 for lang in ("en", "de", "fr", "es")), langs
    quoted = [m for _, m, _ in POSITIVE if any(q in m for q in QUOTES if q != "'") or "'" in m.replace("'s ", "")]
    assert len(quoted) >= 15 and len(POSITIVE) - len(quoted) >= 30
    before = [m for _, m, secrets in POSITIVE if _keyword_after_value(m, secrets[0])]
    assert len(before) >= 8, before
    assert {lang for lang, _ in NEGATIVE} == {"en", "de", "fr", "es"}


_KEYWORDS = ("password", "passwort", "kennwort", "mot de passe", "contraseña", "clave", "passphrase")


def _keyword_after_value(message: str, secret: str) -> bool:
    """The passphrase comes first, its keyword later ("use X as the new wifi password")."""
    i = message.index(secret)
    return (not any(k in message[:i].lower() for k in _KEYWORDS)
            and any(k in message[i:].lower() for k in _KEYWORDS))


def test_no_phrasing_leaks_and_the_vault_gets_the_exact_value(record_property: Any) -> None:
    leaks, inexact, found_total = [], [], 0
    for _lang, message, secrets in POSITIVE:
        masked, vault = redact(message)
        leaks += [(message, masked) for s in secrets if s in masked]
        inexact += [(message, vault) for s in secrets if s not in vault.values()]
        found_total += sum(s in vault.values() for s in secrets)
        assert all(s not in scrub_text(message) for s in secrets), message  # the at-rest scrubber agrees
    total = sum(len(s) for _, _, s in POSITIVE)
    recall = found_total / total
    record_property("redact_recall", recall)
    record_property("redact_leaks", len(leaks))
    print(f"\nredaction: {len(POSITIVE)} phrasings, {total} passphrases, leaks {len(leaks)}, "
          f"exact recall {recall:.1%}")
    assert leaks == []
    assert inexact == []


def test_ordinary_sentences_are_left_alone(record_property: Any) -> None:
    changed = [(m, redact(m)[0]) for _, m in NEGATIVE if redact(m)[1]]
    rate = len(changed) / len(NEGATIVE)
    record_property("redact_false_positive_rate", rate)
    print(f"\nredaction: {len(NEGATIVE)} ordinary sentences, false positives {len(changed)} ({rate:.1%})")
    assert changed == []
    assert all(scrub_text(m) == m for _, m in NEGATIVE)


def test_an_ssid_beside_a_passphrase_survives() -> None:
    masked, vault = redact("change the SSID to HomeNet2024 and the wifi password to Sommer2024!")
    assert "HomeNet2024" in masked and vault == {"[secret:1]": "Sommer2024!"}
    masked, vault = redact("Flat 4B wants to change the Wi-Fi password to BlueOcean#7, and rename the network to "
                           "HomeNet")
    assert masked.endswith("rename the network to HomeNet") and list(vault.values()) == ["BlueOcean#7"]


def test_redaction_is_idempotent_and_numbers_from_start() -> None:
    masked, vault = redact("new password: Tr0ub4dor&3horse (old password: Alt12345)", start=3)
    assert masked == "new password: [secret:3] (old password: [secret:4])"
    assert vault == {"[secret:3]": "Tr0ub4dor&3horse", "[secret:4]": "Alt12345"}
    assert redact(masked) == (masked, {})
    assert scrub_text(masked) == masked
    assert scrub_text("passphrase is Sommer2024!") == "passphrase is [secret]"
