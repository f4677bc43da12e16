"""Did a firmware download install? Decided from what the adapter observed, never from the transfer.

A CPE can report a transfer complete and keep running its old image (genieacs-sim always does; a
real CPE whose image fails its signature check after the download does too). The version the image
declares comes from the proposal (``version`` argument) or, when the proposal named none, from the
adapter (GenieACS's file metadata, reported as ``expected``). A download is installed only when the
device reports that version — or, with no version declared anywhere, when the adapter saw the
version change (``installed``; a USP Boot!'s ``FirmwareUpdated``). Anything else is a mismatch the
lifecycle records as ``verify_failed``: "not installed" is never ``verified``.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Operation

SOFTWARE_VERSION = "Device.DeviceInfo.SoftwareVersion"

#: the text that stands for "some new version" when no version was declared anywhere
A_NEW_VERSION = "a version other than the one before the download"


def declared_version(op: Operation, output: Mapping[str, Json]) -> str | None:
    """The version the image declares: the proposal's, else the adapter's (file metadata)."""
    for value in (op.args.get("version"), output.get("expected")):
        if value not in (None, ""):
            return str(value)
    return None


def download_shortfall(op: Operation, output: Mapping[str, Json]) -> JsonObject | None:
    """The SoftwareVersion mismatch of a finished download (``{path: {expected, got}}``), or None
    when the device runs the declared image (or the adapter saw a new one and none was declared)."""
    if op.command != "download":
        return None
    expected = declared_version(op, output)
    running = output.get("firmware")
    if expected is not None and running not in (None, ""):
        if str(running) != expected:
            return {SOFTWARE_VERSION: {"expected": expected, "got": running}}
        return None
    not_installed = output.get("installed") is False or output.get("firmware_updated") is False
    if not_installed:
        return {SOFTWARE_VERSION: {"expected": expected or A_NEW_VERSION,
                                   "got": running if running not in (None, "") else output.get("previous")}}
    return None


def not_undone(operations: list[Operation]) -> list[str]:
    """The operations a rollback cannot undo, in words a person reads on the execution row: a
    restore writes parameters back, it never reinstalls an image or un-reboots a device."""
    words = {"download": "download (the device keeps whatever image it installed)",
             "factory_reset": "factory_reset (the device's own settings are gone)",
             "reboot": "reboot"}
    return [words.get(op.command, op.command) for op in operations]
