"""A firmware URL is one plain URL (issue 56, item 4).

The download URL was checked for its scheme and host, and policy for an approved prefix, so
``https://firmware.gateward.example/fw.bin\\r\\nHost: evil.example`` — a CR/LF that splits the
request line a CPE or a proxy sends — a NUL that ends the string early in C code, and spaces all
passed inside an approved URL. Validation refuses them before policy; policy's ``approved_url``
refuses them too (policies/rego/firmware.rego, its test beside it).
"""

from __future__ import annotations

import pytest

from core.kernel.models import Operation
from core.validation import validate_operation

APPROVED = "https://firmware.gateward.example/avm/7.59.image"
HOSTILE = {
    "crlf": APPROVED + "\r\nHost: evil.example",
    "lf": APPROVED + "\nX: 1",
    "cr": APPROVED + "\r",
    "nul": APPROVED + "\x00.evil",
    "space": "https://firmware.gateward.example/avm/7.59 image",
    "leading-space": " " + APPROVED,
    "tab": APPROVED + "\t",
    "nbsp": APPROVED.replace("/avm", "/\u00a0avm"),
    "zero-width": APPROVED.replace("/avm", "/\u200bavm"),
    "del": APPROVED + "\x7f",
    "bidi": APPROVED.replace("7.59", "\u202e95.7"),
}


@pytest.mark.parametrize("url", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_download_url_with_spaces_or_control_characters_is_refused(url: str) -> None:
    issues = validate_operation(Operation(command="download", args={"url": url}))
    assert issues and "download url" in issues[0].message, (url, issues)
    assert "space" in issues[0].message or "control" in issues[0].message


def test_a_plain_url_passes() -> None:
    assert validate_operation(Operation(command="download", args={"url": APPROVED})) == []
    assert validate_operation(Operation(command="download", args={"url": APPROVED + "?v=1&sig=a%20b"})) == []

