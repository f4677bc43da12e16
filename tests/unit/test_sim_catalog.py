"""The simulator catalogue: the fleet's variety is data, and the data must be coherent."""

from __future__ import annotations

import re
from functools import cache

import pytest

from core.kernel.datamodel.registry import get_registry
from core.kernel.models import Protocol, Root
from executors.sim import catalog as cat
from executors.sim.values import ValueProblem, check, coerce


def test_catalogue_covers_the_fleet_we_need() -> None:
    models = cat.models()
    assert len(models) >= 6
    assert sum(1 for m in models if m.root == Root.IGD) >= 2
    assert any(m.protocol == Protocol.USP for m in models)
    hints = {m.compat_hint for m in models}
    assert {"green", "yellow", "red"} <= hints
    assert any(m.upstream_kind == "cmts" for m in models) and any(m.upstream_kind == "olt" for m in models)
    buggy = [m for m in models if m.has_quirk("dns_lost_after_reboot")]
    assert buggy and all(m.root == Root.IGD for m in buggy)
    assert any(len(m.radios) == 3 for m in models), "some models have 6 GHz"
    combos = {(m.vendor, m.model, m.firmware) for m in models}
    assert len(combos) == len(models)


@pytest.mark.parametrize("model", cat.models(), ids=lambda m: m.key)
def test_model_is_coherent(model: cat.CatalogModel) -> None:
    assert re.fullmatch(r"[0-9A-F]{6}", model.oui)
    bands = [r.band for r in model.radios]
    assert "2.4GHz" in bands and "5GHz" in bands
    for region in model.regions:
        assert cat.regulatory(region).domain[:2] == region
        for radio in model.radios:
            assert cat.possible_channels(radio, region), (model.key, region, radio.band)
    if model.root == Root.IGD:
        assert model.wlans and not model.ssids
    else:
        assert model.ssids and not model.wlans


@pytest.mark.parametrize("model", cat.models(), ids=lambda m: m.key)
def test_factory_tree_has_a_spec_for_every_parameter(model: cat.CatalogModel) -> None:
    region = model.regions[0]
    ident = cat.default_identity(model, "TEST00000001")
    tree = cat.build_factory_tree(model, region, ident)
    cat.fill_counts(tree, model)
    assert all(p.startswith(model.root.value) for p in tree)
    for path, value in tree.items():
        spec = model.spec(path)
        assert spec is not None, path
        if spec.dynamic or spec.count or path.endswith("DiagnosticsState"):
            continue
        coerced = coerce(value, spec)  # every factory value is valid for its own firmware
        sibling = tree.get(path.rsplit(".", 1)[0] + "." + spec.enum_ref) if spec.enum_ref else None
        if spec.secret and value == "":
            continue
        try:
            check(coerced, spec, sibling)
        except ValueProblem as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{model.key} {path}={value!r}: {exc}")


def test_secrets_are_marked() -> None:
    m = cat.get_model("lumenet-g240w-3.2")
    for p in (
        "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
        "Device.ManagementServer.Password",
        "Device.ManagementServer.ConnectionRequestPassword",
    ):
        spec = m.spec(p)
        assert spec is not None and spec.secret
    legacy = cat.get_model("sinotel-hg8020-s105")
    spec = legacy.spec("InternetGatewayDevice.LANDevice.1.WLANConfiguration.5.PreSharedKey.1.KeyPassphrase")
    assert spec is not None and spec.secret


def test_usp_model_has_no_management_server() -> None:
    usp = cat.get_model("prplnet-px7000-1.3")
    tree = cat.build_factory_tree(usp, "DE", cat.default_identity(usp, "PX7K00000001"))
    assert not any(p.startswith("Device.ManagementServer.") for p in tree)
    assert "Device.LocalAgent.EndpointID" in tree
    assert not any(p.startswith("Device.IP.Diagnostics.IPPing.") for p in tree)


def test_firmware_differences_are_data() -> None:
    old, beta = cat.get_model("vantec-cgw3400-7.2"), cat.get_model("vantec-cgw3400-7.4")
    assert "-1" not in old.radios[0].tx_power_supported.split(",")
    assert "-1" in beta.radios[0].tx_power_supported.split(",")
    arc = cat.get_model("arcwave-aw1200-2.1")
    assert cat.possible_channels(arc.radios[1], "DE") == [36, 40, 44, 48]
    assert arc.spec("InternetGatewayDevice.IPPingDiagnostics.DSCP") is None
    spec = arc.spec("InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.KeyPassphrase")
    assert spec is not None and spec.length == (0, 63)  # accepts short passphrases, unlike TR-181


def test_channel_lists_may_use_ranges() -> None:
    m = cat.get_model("sinotel-hg8020-s105")
    tree = cat.build_factory_tree(m, "DE", cat.default_identity(m, "4857544300000001"))
    assert tree["InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PossibleChannels"] == "1-13"
    spec = m.spec("InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel")
    assert spec is not None
    check(13, spec, "1-13")
    with pytest.raises(ValueProblem):
        check(14, spec, "1-13")


def test_identity_is_deterministic() -> None:
    m = cat.get_model("lumenet-g240w-3.2")
    a, b = cat.default_identity(m, "LMNT1"), cat.default_identity(m, "LMNT1")
    assert a == b and a.passphrase and len(a.passphrase) >= 8
    assert cat.default_identity(m, "LMNT2").mac != a.mac
    assert a.mac.replace(":", "").startswith(m.oui)


_MODELS = {"tr-181-2-19-1-cwmp-full.xml": ("Device.", "cwmp"), "tr-181-2-19-1-usp-full.xml": ("Device.", "usp"),
           "tr-098-1-8-0-full.xml": ("InternetGatewayDevice.", "cwmp")}


@cache
def _xml(name: str) -> frozenset[str]:
    """Every parameter of a BBF model (deleted ones included), from the tables ``core/kernel/datamodel``
    generated from its XML and ships — the suite runs without the XML beside the checkout."""
    root, flavour = _MODELS[name]
    return frozenset(s.path for s in get_registry(root, flavour).parameters_under(root, include_deleted=True))


def test_catalogue_paths_are_standard_or_vendor() -> None:
    """Every schema path is in the BBF model of its root, or a vendor ``X_`` extension."""
    files = {"tr181": "tr-181-2-19-1-cwmp-full.xml", "tr098": "tr-098-1-8-0-full.xml"}
    usp_only = {"Device.LocalAgent.EndpointID", "Device.LocalAgent.SupportedProtocols"}
    for name, schema in cat.catalog().schemas.items():
        known = _xml(files[name]) | (_xml("tr-181-2-19-1-usp-full.xml") if name == "tr181" else frozenset())
        missing = [p for p in schema if p not in known and p not in usp_only]
        assert not missing, (name, missing)
    for m in cat.models():
        for p in m.vendor_params:
            assert ".X_" in p
