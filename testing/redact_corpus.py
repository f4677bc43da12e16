"""Adversarial chat messages for the redactor and the validators: each exactly
:data:`PATHOLOGICAL_LEN` characters (the chat API's limit), built to make a backtracking regex or a
per-keyword rescan of the text blow up. Shared by the behaviour tests (``tests/brain``) and the
benchmark that times them (``gateward bench redact_pathological``).
"""

from __future__ import annotations

# Long runs of every character the patterns branch on, keywords and near-misses repeated, quotes
# that never close, "X as the password" with a huge X, long "to X to Y …" chains.
PATHOLOGICAL_LEN = 4000


def _fill(unit: str, head: str = "", tail: str = "", n: int = PATHOLOGICAL_LEN) -> str:
    body = n - len(head) - len(tail)
    return head + (unit * (body // len(unit) + 1))[:body] + tail


def pathological() -> list[tuple[str, str]]:
    """``[(name, text)]``: every text exactly ``PATHOLOGICAL_LEN`` characters."""
    out = [(f"run {ch!r}", _fill(ch)) for ch in "a !-'\".:=\n0é“„«»‘`()[]/,;?_#@\\\t"]
    units = [
        "a!", "a-", "a-!", "!-", "x ", "a'", "'a", "a.", "a.b", "1.", "a:", "0a", "a_", "-a", "Aa", "aA1 ",
        # keywords, compounds and near-misses, alone and with connectors
        "pass-", "pass", "pas", "passw", "password", "password ", "Password: ", "password to ", "passwort-",
        "pw ", "pwd ", "psk ", "key ", "code ", "clé ", "clave ", "secret ", "wifi key ", "wi-fi-key ",
        "mot de passe ", "mots de passe ", "contraseña ", "WLAN-Schlüssel ", "Kennwort ", "code wifi ",
        "passwor ", "wi-fi ke ", "pass word ", "passphrase is ", "the password is ", "password is Aa1! ",
        "to Ab1cdefg ", "as the password ", "use ", "new ", "set ", "from Ab1cdefg to ", "password for the wifi ",
        "pw abcd ", "pw: Xx9!xxxx ", "pw:", "key=Ab12Cd34Ef ",
        # quotes that pair, and that never close
        "\"x\" ", "'x' ", "“a” ", "« a » ", "„a“ ", "\"a", "a\"", "password \"", "password '", "password “",
        "password: \"a ",
        # what the exclusions and validators branch on
        "00:11:22:33:44:55 ", "1.2.3.4 ", "1.2.3.", "a1-b2-", "v1.2.", "http://", "@a.", "5 ghz ", "a.b.",
        # explicit-request words (brain.understanding.actions / .lexicon read every message too)
        "ping a.", "channel 1", "reset ", "factory reset ", "reset factory ", "werkseinstellungen ", "don't ",
        "since the ", "reboot ", "all devices ", "hops ", "packets ", "speed ", "test ",
        "a b c d e f g h ", ". ", "! ", "? ", "is ", "to ", "be ", "Xx9!", "aaaaaaaaaaaaaaaaaaaa1 ",
    ]
    out += [(f"unit {u!r}", _fill(u)) for u in units]
    frames = [("password ", ""), ("", " password"), ("use ", " as the password"), ("password: \"", ""),
              ("password to ", ""), ("\"", "\" password"), ("", " as the new wifi password"), ("password “", "")]
    for unit in ("a", "a ", "A1", "a!", "a-", "x1 ", ". ", "-", "to ", "as ", "the "):
        out += [(f"{head!r}+{unit!r}*+{tail!r}", _fill(unit, head, tail)) for head, tail in frames]
    unique: dict[str, str] = {}
    for name, text in out:
        unique.setdefault(text, name)
    return [(name, text) for text, name in unique.items()]
