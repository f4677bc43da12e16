"""Devices of a seeded simulated fleet picked for what a test or a benchmark changes on them."""

from __future__ import annotations

from typing import Any


def online_5ghz_radios(rt: Any) -> list[tuple[Any, int]]:
    """(device, 5 GHz radio index) of every online, reachable TR-181 device, in id order: devices
    a channel change can be applied to and verified on the simulator."""
    from core.kernel.models import Root
    from core.store import repo

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=100000)
    out = []
    for d in devs:
        if d.root is not Root.DEVICE:
            continue
        reader = rt.router.reader(d)
        pres = reader.presence(d)
        if not (pres.online and pres.reachable):
            continue
        for path, v in reader.read(d, ["Device.WiFi.Radio."]).items():
            if path.endswith(".OperatingFrequencyBand") and v.value == "5GHz":
                out.append((d, int(path.split(".")[3])))
                break
    return out


def first_usp_gateway_on_usp(rt: Any) -> Any:
    """The seeded fleet's first USP gateway, moved to the ``usp`` adapter (the seed drives every
    device through the simulator), re-read: what a test fronts with a simulated agent on a broker."""
    from sqlalchemy import update

    from core.store import repo
    from core.store.schema import DeviceRow

    with rt.store.read() as s:
        devices, _ = repo.list_devices(s, limit=1000)
    d = next(x for x in devices if str(x.protocol) == "usp")
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(adapter="usp"))
    with rt.store.read() as s:
        return repo.get_device(s, d.id)
