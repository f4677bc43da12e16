"""Secrets by construction (issue 54): a secret reaches a draft only through the secret field or
the generator, only as a Wi-Fi passphrase, and the approver sees what it is for.

Why: a secret read out of chat text was drafted wrongly while looking right to every person —
"change the Wi-Fi key from <old> to <new>" drafted the *old* key (the first value found), and "set
the ACS connection-request password to X" became a Wi-Fi passphrase change on every access point
(the only secret the planner knew how to draft). Both were approved, because everybody sees
``********``. So the value no longer comes from the words at all:

* **the secret field** — beside the message, never part of it: API ``secret`` on
  ``POST /api/chat/threads/{id}/messages``; console: the password input under the support chat;
  CLI: ``gateward chat`` asks for it without echo (``/secret``), or ``--secret-stdin``. It is checked
  (:func:`validate`), held in the turn's memory only, and placed as ``[secret:N]``;
* **the generator** — "set a new random passphrase" (:func:`wants_generated`): :func:`generate`
  draws one with :mod:`secrets`; it is shown once to the agent in the turn's stream (a ``secret``
  event, never stored) and never written to the thread;
* a secret typed into the text is masked before anything is stored (``brain.secret_guard``) and
  dropped: the turn asks for the field (:data:`ASK`);
* a request about another credential (:func:`other_credential`: the ACS's, the router's admin
  login, PPPoE, SIP) is not a Wi-Fi passphrase and is not drafted from chat;
* :func:`check_draft` refuses a draft whose secret is anything but a held placeholder on a Wi-Fi
  passphrase parameter;
* :func:`purposes` says, for each secret a proposal writes, its parameter, the network it belongs to
  (SSID, role, band, as last read), old → new and the new value's keyed fingerprint
  (``core.secret_fingerprint``) — shown to the agent when the proposal is made and to the approver.
"""

from __future__ import annotations

import re
import secrets as _random
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from core.kernel.errors import Invalid
from core.kernel.models import Change, changes_for
from core.kernel.secrets import is_secret_path
from core.secret_fingerprint import secret_fingerprint

__all__ = ["ASK", "FIELD", "SecretPurpose", "check_draft", "generate", "is_wifi_secret_path", "other_credential",
           "purposes", "validate", "wants_generated"]

FIELD = "secret"  # the API field's name
# Named on every surface, since one reply reaches them all.
WHERE = ("the secret field — console: the password box under the message; CLI: `/secret` (typed without echo) "
         "or --secret-stdin; API: the message's `secret` field")
ASK = (f"Send the new Wi-Fi passphrase in {WHERE}; never in the message text. Or ask me to \"generate a new "
       "passphrase\". At least 12 characters, not a common password.")
TYPED = ("Your message carried what looks like a secret: it was masked before anything was stored and it was "
         f"not kept, so it will not be used. Secrets go only through {WHERE}.")

_WIFI_SECRET = re.compile(
    r"^Device\.WiFi\.AccessPoint\.\d+\.Security\.(?:KeyPassphrase|PreSharedKey|SAEPassphrase)$"
    r"|^InternetGatewayDevice\.LANDevice\.\d+\.WLANConfiguration\.\d+\."
    r"(?:KeyPassphrase|PreSharedKey\.\d+\.(?:KeyPassphrase|PreSharedKey))$")


def is_wifi_secret_path(path: str) -> bool:
    """A Wi-Fi network's passphrase or pre-shared key (TR-181 or TR-098)."""
    return bool(_WIFI_SECRET.match(path))


# ---------------------------------------------------------------------------- the field
def validate(secret: str) -> str:
    """The secret as given, when a Wi-Fi device can take it (WPA2: 8–63 printable ASCII characters, or
    64 hex digits); otherwise :class:`Invalid` saying what is wrong — never the value."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", secret):
        return secret
    if not 8 <= len(secret) <= 63:
        raise Invalid(f"the secret is {len(secret)} characters long; a Wi-Fi passphrase has 8 to 63 "
                      "(or is 64 hex digits)", field=FIELD)
    if not all(32 <= ord(c) < 127 for c in secret):
        raise Invalid("the secret has a character a Wi-Fi passphrase cannot hold (only printable ASCII: "
                      "letters, digits, spaces and symbols)", field=FIELD)
    if secret != secret.strip():
        raise Invalid("the secret starts or ends with a space; remove it (a device would keep it)", field=FIELD)
    return secret


# Easy to read aloud and to type on a phone: no 0/O, 1/l/I.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate(groups: int = 4, size: int = 5) -> str:
    """A random passphrase from :mod:`secrets` — four groups of five (about 115 bits), one
    digit and one capital at least, so every strength rule the policy pack has passes."""
    while True:
        value = "-".join("".join(_random.choice(_ALPHABET) for _ in range(size)) for _ in range(groups))
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value):
            return value


_GENERATE = re.compile(
    r"\b(random\w*|generat\w*|make (?:one|it) up|pick one|zufällig\w*|generier\w*|erzeug\w*|"
    r"al[ée]atoire\w*|g[ée]n[èée]r\w*|aleatori\w*|gener[ae]\w*)\b", re.IGNORECASE)


def wants_generated(text: str) -> bool:
    """The agent asks Gateward to choose the passphrase ("set a new random passphrase", "ein zufälliges
    WLAN-Passwort", "un mot de passe aléatoire", "genera una contraseña")."""
    return bool(_GENERATE.search(text))


# ---------------------------------------------------------------------------- what a secret is for
_OTHER: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(acs|connection[- ]?request|tr-?069|cwmp|management ?server|verbindungsanfrage|"
                r"demande de connexion|solicitud de conexi[oó]n)\b", re.IGNORECASE),
     "the ACS connection-request password (Device.ManagementServer.ConnectionRequestPassword)"),
    (re.compile(r"\b(admin\w*|web ?(ui|interface|page|oberfl[äa]che)|gui|login|log-?in|user ?account|"
                r"benutzer\w*|anmelde\w*|interface web|identifiant|administra\w*|usuario|acceso al router)\b",
                re.IGNORECASE),
     "the router's administrator login (Device.Users.User.{i}.Password)"),
    (re.compile(r"\b(pppoe?|dsl|internet ?(login|zugang)|zugangsdaten|identifiants? internet)\b", re.IGNORECASE),
     "the internet access (PPP) password (Device.PPP.Interface.{i}.Password)"),
    (re.compile(r"\b(sip|voip|voice|telefon\w*|t[ée]l[ée]phon\w*|tel[ée]fono)\b", re.IGNORECASE),
     "the telephony (SIP) password"),
]
_WIFI_WORDS = re.compile(r"wi-?fi|wlan|wireless|ssid|guest|gast|invit|network key|netzwerkschl|wpa|psk|"
                         r"passphrase|r[ée]seau|\bred\b", re.IGNORECASE)


def other_credential(text: str) -> str | None:
    """The credential ``text`` names when it is not a Wi-Fi passphrase ("the ACS connection request
    password", "the router's admin password", "PPPoE password"), or None. A message that also names
    the Wi-Fi ("guest wifi password") is about the Wi-Fi."""
    if _WIFI_WORDS.search(text):
        return None
    for pattern, what in _OTHER:
        if pattern.search(text):
            return what
    return None


def check_draft(changes: Sequence[Change], held: Mapping[str, str]) -> str | None:
    """Why a draft may not carry its secrets, or None: every secret parameter it sets is a Wi-Fi
    passphrase and its value a placeholder held from the field or the generator — never a literal
    (a value read from text, a model's invention) and never another credential."""
    for c in changes:
        placeholder = isinstance(c.value, str) and c.value.strip() in held
        if is_secret_path(c.path) and not is_wifi_secret_path(c.path):
            return f"{c.path} is not a Wi-Fi passphrase; the chat sets no other secret"
        if is_wifi_secret_path(c.path) and not placeholder:
            return f"{c.path}: the passphrase must come from the secret field or the generator"
        if placeholder and not is_wifi_secret_path(c.path):
            return f"{c.path} is not a Wi-Fi passphrase; the secret from the field goes only into one"
    return None


class SecretPurpose(BaseModel):
    """What one secret a proposal writes is for, as the agent and the approver see it."""

    device_id: str
    path: str
    what: str = Field(description="the parameter in words, e.g. 'Wi-Fi passphrase'")
    ssid: str | None = Field(default=None, description="the network it protects, as last read")
    role: str | None = Field(default=None, description="primary, guest or backhaul, by the device's own marks")
    band: str | None = None
    old: str = Field(description="the current value in words (a secret is never read back)")
    new_fingerprint: str | None = Field(default=None, description="first 8 hex of a keyed HMAC of the new value")


def _what(path: str) -> str:
    leaf = path.rsplit(".", 1)[-1]
    if is_wifi_secret_path(path):
        return "Wi-Fi pre-shared key" if leaf == "PreSharedKey" else "Wi-Fi passphrase"
    if "ManagementServer.ConnectionRequestPassword" in path:
        return "ACS connection-request password"
    if "ManagementServer" in path:
        return "ACS password"
    if ".Users.User." in path:
        return "user account password"
    if ".PPP." in path or "WANPPPConnection" in path:
        return "PPP password"
    return "secret parameter"


def _networks(params: Mapping[str, Any]) -> dict[int, tuple[str | None, str | None, str | None]]:
    """Access point index → (SSID, role, band) from a stored read of the device."""
    from brain import roles
    from brain.tools import radios_from_values

    values = {k: v for k, v in params.items() if k.startswith("Device.WiFi.")}
    return {x.index: (x.name, x.role, x.band) for x in roles.ssids(values, radios_from_values(values))}


def _igd_ssid(params: Mapping[str, Any], path: str) -> str | None:
    m = re.match(r"(InternetGatewayDevice\.LANDevice\.\d+\.WLANConfiguration\.\d+)\.", path)
    item = params.get(f"{m.group(1)}.SSID") if m else None
    value = item.get("value") if isinstance(item, Mapping) else item
    return str(value) if value not in (None, "") else None


def purposes(changes: Sequence[Change], targets: Sequence[str],
             snapshots: Mapping[str, Mapping[str, Any]]) -> list[SecretPurpose]:
    """Every secret ``changes`` write to ``targets``, with what it is for; ``snapshots`` are the
    devices' last stored reads (``core.store.repo.latest_snapshot``), which may be missing."""
    out: list[SecretPurpose] = []
    for device in targets:
        params = snapshots.get(device) or {}
        nets: dict[int, tuple[str | None, str | None, str | None]] | None = None
        for c in changes_for(changes, device):
            if not is_secret_path(c.path):
                continue
            ssid = role = band = None
            m = re.match(r"Device\.WiFi\.AccessPoint\.(\d+)\.", c.path)
            if m is not None and params:
                nets = _networks(params) if nets is None else nets
                ssid, role, band = nets.get(int(m.group(1)), (None, None, None))
            elif c.path.startswith("InternetGatewayDevice.") and params:
                ssid = _igd_ssid(params, c.path)
            value = c.value if isinstance(c.value, str) and c.value and not c.value.startswith("[secret") else None
            out.append(SecretPurpose(
                device_id=device, path=c.path, what=_what(c.path), ssid=ssid, role=role, band=band,
                old="the current value (a secret is never read back, so it is not shown and cannot be restored)",
                new_fingerprint=secret_fingerprint(value) if value is not None else None))
    return out


def purposes_from_store(session: Any, changes: Sequence[Change], targets: Sequence[str]) -> list[SecretPurpose]:
    """:func:`purposes` with each target's last stored read, read only when a change is a secret."""
    from core.store import repo

    if not any(is_secret_path(c.path) for c in changes):
        return []
    snaps = {t: repo.latest_snapshot(session, t) or {} for t in targets[:50]}
    return purposes(changes, targets[:50], snaps)
