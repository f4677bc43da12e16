"""Device ids that differ only in letter case are one device (issue 56, item 5).

``A4C3F0-G240W-ab12`` beside ``A4C3F0-G240W-AB12`` registered as two devices: two rows, two histories,
two locks — one gateway a person reads as one id, written to by proposals that never saw each other.
The operator's decision (``core/inventory.py``, docs/api.md): ids are kept exactly as the device reports them (the ACS
and the USP endpoint address them so), and a registration whose id — or whose OUI and serial — equals
a registered one in another letter case is refused as a duplicate naming the one already there; by
``POST /api/devices``, ``devices add`` and each row of an import (also among the rows of one file).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.inventory.conftest import serial

pytestmark = pytest.mark.slow  # a seeded runtime and a settler that retries: seconds each
FIELDS = {"adapter": "sim", "root": "Device.", "vendor": "Lumenet", "model": "ONT-G240W", "firmware": "3.2",
          "region": "DE"}


@pytest.fixture(scope="module")
def api(rt: Any) -> Iterator[Any]:
    from tests.api.conftest import make_api

    a = make_api(rt, "inventory-case")
    yield a
    a.client.close()


def _add(api: Any, device_id: str, product_class: str = "G240W") -> Any:
    return api.post("/api/devices", {"id": device_id, "product_class": product_class, **FIELDS}, user="dave")


@pytest.mark.parametrize("variant", ["serial-lower", "serial-mixed", "product-class"])
def test_an_id_in_another_letter_case_is_refused_as_the_same_device(api: Any, variant: str) -> None:
    sn = serial("Cs")  # e.g. Cs000001X: letters of both cases
    first = f"A4C3F0-G240W-{sn}"
    assert _add(api, first).status_code == 201
    other, pc = {"serial-lower": (f"A4C3F0-G240W-{sn.lower()}", "G240W"),
                 "serial-mixed": (f"A4C3F0-G240W-{sn.swapcase()}", "G240W"),
                 "product-class": (f"A4C3F0-g240w-{sn}", "g240w")}[variant]
    r = _add(api, other, pc)
    assert r.status_code == 409, r.text
    assert first in r.json()["detail"] and "letter case" in r.json()["detail"]
    assert api.get("/api/devices", params={"q": sn.lower(), "limit": 10}).json().get("total", 1) in (1, None)


def test_an_import_refuses_a_case_variant_of_a_registered_device_and_of_an_earlier_row(api: Any) -> None:
    sn, fresh = serial("Im"), serial("Nw")
    assert _add(api, f"A4C3F0-G240W-{sn}").status_code == 201
    rows = [{"id": f"A4C3F0-G240W-{sn.lower()}", "product_class": "G240W", **FIELDS},
            {"id": f"A4C3F0-G240W-{fresh}", "product_class": "G240W", **FIELDS},
            {"id": f"A4C3F0-G240W-{fresh.lower()}", "product_class": "G240W", **FIELDS}]
    r = api.post("/api/devices/import", {"devices": rows}, user="dave")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["registered"] == 1, report
    refused = {row["row"]: row["error"] for row in report["rows"] if not row["ok"]}
    assert set(refused) == {1, 3} and all("letter case" in e for e in refused.values()), refused
