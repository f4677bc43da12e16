"""Secret masking: a passphrase or password must never leave the process in clear."""

from __future__ import annotations

import hashlib
import json

import pytest

from core.kernel.models import Change
from core.kernel.secrets import MASK, is_secret_path, mask_changes, mask_params, mask_value, secret_facts

PASS = "correct-horse-battery-staple"


@pytest.mark.parametrize(
    "path",
    [
        # TR-181, flagged secured/hidden in the standard
        "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
        "Device.WiFi.AccessPoint.4.Security.PreSharedKey",
        "Device.WiFi.AccessPoint.1.Security.WEPKey",
        "Device.WiFi.AccessPoint.2.Security.SAEPassphrase",
        "Device.WiFi.AccessPoint.1.Security.RadiusSecret",
        "Device.ManagementServer.Password",
        "Device.ManagementServer.ConnectionRequestPassword",
        "Device.Users.User.3.Password",
        "Device.PPP.Interface.1.Password",
        "Device.WiFi.AccessPoint.{i}.Security.KeyPassphrase",
        # TR-098
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.KeyPassphrase",
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase",
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.PreSharedKey",
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.WEPKey.2.WEPKey",
        "InternetGatewayDevice.ManagementServer.Password",
        # standard but unflagged in the XML, caught by name
        "Device.Ethernet.WoL.Password",
        "Device.Users.CheckCredentialsDiagnostics.Password",
        # vendor extensions and unknown paths, judged by name
        "Device.WiFi.AccessPoint.1.Security.X_ACME_WPAKey",
        "Device.X_ACME_Cloud.Password",
        "InternetGatewayDevice.X_ACME_Admin.AdminPassphrase",
        "Device.WiFi.X_ACME_Guest.PreSharedKey",
        "Device.X_ACME_Tr069.SharedSecret",
        "Device.WiFi.AccessPoint.1.Security.KeyPasphrase",  # a typo must not leak either
    ],
)
def test_secret_paths(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "Device.WiFi.SSID.1.SSID",
        "Device.WiFi.Radio.1.Channel",
        "Device.WiFi.AccessPoint.1.Security.ModeEnabled",
        "Device.WiFi.AccessPoint.1.Security.RekeyingInterval",
        "Device.ManagementServer.Username",
        "Device.ManagementServer.URL",
        "Device.UserInterface.PasswordRequired",  # a boolean about passwords
        "Device.SSH.AuthorizedKey.1.Key",  # a public key
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
        "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.WEPKeyIndex",
        "Device.X_ACME_Led.Brightness",
    ],
)
def test_non_secret_paths(path: str) -> None:
    assert not is_secret_path(path)


def test_mask_value() -> None:
    assert mask_value("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", PASS) == MASK
    assert mask_value("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "") == MASK
    assert mask_value("Device.WiFi.AccessPoint.1.Security.KeyPassphrase", None) is None
    assert mask_value("Device.WiFi.SSID.1.SSID", "Home") == "Home"
    assert MASK == "********"


def test_mask_params_scalars_and_dicts() -> None:
    params = {
        "Device.WiFi.AccessPoint.1.Security.KeyPassphrase": PASS,
        "Device.ManagementServer.Password": {"value": PASS, "type": "string", "writable": True},
        "Device.WiFi.AccessPoint.2.Security.PreSharedKey": {"before": PASS, "after": PASS + "2"},
        "Device.WiFi.SSID.1.SSID": {"value": "Home", "type": "string"},
        "Device.WiFi.Radio.1.Channel": 36,
    }
    masked = mask_params(params)
    assert masked["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"] == MASK
    assert masked["Device.ManagementServer.Password"] == {"value": MASK, "type": "string", "writable": True}
    assert masked["Device.WiFi.AccessPoint.2.Security.PreSharedKey"] == {"before": MASK, "after": MASK}
    assert masked["Device.WiFi.SSID.1.SSID"] == {"value": "Home", "type": "string"}
    assert masked["Device.WiFi.Radio.1.Channel"] == 36
    assert PASS not in json.dumps(masked)
    # The input is not modified.
    assert params["Device.ManagementServer.Password"]["value"] == PASS


def test_mask_changes_models_and_dicts() -> None:
    changes = [
        Change(path="Device.WiFi.AccessPoint.1.Security.KeyPassphrase", value=PASS, type="string"),
        Change(path="Device.WiFi.Radio.1.Channel", value=36),
        {"path": "InternetGatewayDevice.ManagementServer.Password", "value": PASS},
        {"path": "Device.X_ACME_Cloud.ApiKey", "value": PASS, "before": "old-" + PASS},
    ]
    out = mask_changes(changes)
    assert out[0] == {"path": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase", "value": MASK,
                      "type": "string"}
    assert out[1]["value"] == 36
    assert out[2]["value"] == MASK
    assert out[3]["value"] == MASK and out[3]["before"] == MASK
    assert PASS not in json.dumps(out)
    with pytest.raises(TypeError):
        mask_changes([object()])


def test_secret_facts() -> None:
    facts = secret_facts("MyHomeNet2024!", ["myhomenet", "Guest"])
    assert facts == {
        "length": 14,
        "sha256_lower": hashlib.sha256(b"myhomenet2024!").hexdigest(),
        "contains_ssid": True,
    }
    assert secret_facts(PASS, ["HomeNet", ""])["contains_ssid"] is False  # empty SSIDs ignored
    assert secret_facts("Password", [])["sha256_lower"] == secret_facts("PASSWORD", [])["sha256_lower"]
    assert PASS not in json.dumps(secret_facts(PASS, ["x"]))


def test_masking_never_leaks_through_any_helper() -> None:
    """One secret, every path through the module: the clear text never comes out."""
    secret = "s3cr3t-Value-Nobody-Sees"
    paths = ["Device.WiFi.AccessPoint.7.Security.KeyPassphrase", "Device.ManagementServer.Password",
             "InternetGatewayDevice.LANDevice.1.WLANConfiguration.3.PreSharedKey.1.PreSharedKey",
             "Device.X_VENDOR_Backdoor.Secret"]
    blobs = []
    for p in paths:
        blobs.append(str(mask_value(p, secret)))
        blobs.append(json.dumps(mask_params({p: secret, p + "X": {"value": secret}})))
        blobs.append(json.dumps(mask_changes([{"path": p, "value": secret}])))
    assert all(secret not in b for b in blobs)
