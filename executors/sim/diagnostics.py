"""Simulated TR-181 TraceRoute and TR-143 download/upload diagnostics.

Why a module of its own: the executor only notices that ``DiagnosticsState`` was set to
``Requested``; what a test *measures* is a function of the device's link (latency, loss,
degraded upstream), its access technology (FTTH is faster than cable) and the target, and is
deterministic per device, target and boot so a scenario or a test sees the same figures twice.
Each function returns the device-native values to write (``None`` deletes a stale table row),
ending in ``DiagnosticsState`` ``Complete`` or a TR-181 ``Error_…`` state.
"""

from __future__ import annotations

import random
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from core.kernel.models import Scalar

TRACEROUTE = "Device.IP.Diagnostics.TraceRoute."
DOWNLOAD = "Device.IP.Diagnostics.DownloadDiagnostics."
UPLOAD = "Device.IP.Diagnostics.UploadDiagnostics."

# Line rates the simulated access technologies deliver (Mbit/s, down/up) on a healthy link.
_RATES = {"ftth": (940.0, 470.0), "cable": (250.0, 40.0)}
_SIZE = re.compile(r"(\d{1,5})\s*(k|m|g)i?b", re.IGNORECASE)
_DEFAULT_TEST_BYTES = 25_000_000


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _rnd(*parts: object) -> random.Random:
    return random.Random("|".join(map(str, parts)))


def _hop_address(host: str, n: int, total: int) -> str:
    """Hop ``n`` of ``total``: the provider's aggregation, its core, then transit; the last hop
    is the target (its address, or a documentation address standing in for a resolved name)."""
    c = zlib.crc32(host.encode())
    if n == total:
        return host if _looks_ip(host) else f"203.0.113.{c % 254 + 1}"
    if n == 1:
        return "100.64.0.1"
    if n <= 3:
        return f"100.64.{n}.{c % 200 + 1}"
    return f"198.51.100.{(c + n * 17) % 254 + 1}"


def _looks_ip(host: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host)) or ":" in host


def traceroute(link: dict[str, Any], seed: str, host: str, resolvable: bool, tries: int, max_hops: int,
               old_rows: int) -> dict[str, Scalar | None]:
    """The hops to ``host`` with ``tries`` round-trip times each (milliseconds, growing along the
    path; slower and jittery on a degraded link); ``Error_MaxHopCountExceeded`` when the target
    is further than ``max_hops``."""
    out: dict[str, Scalar | None] = {f"{TRACEROUTE}RouteHops.{i}.": None for i in range(1, old_rows + 1)}
    if not resolvable:
        out.update({TRACEROUTE + "DiagnosticsState": "Error_CannotResolveHostName", TRACEROUTE + "ResponseTime": 0})
        return out
    rnd = _rnd(seed, host, tries)
    total = 5 + zlib.crc32(host.encode()) % 8
    base = float(link.get("latency_ms", 10.0))
    rtt = 0.0
    for n in range(1, min(total, max_hops) + 1):
        rtt = base * (0.4 + 0.6 * n / total) + (zlib.crc32(host.encode()) % 25) * n / total
        times = []
        for _ in range(tries):
            t = rtt * rnd.uniform(0.9, 1.25)
            if link.get("degraded"):
                t += rnd.expovariate(1 / 40.0)
            times.append(str(max(1, round(t))))
        row = f"{TRACEROUTE}RouteHops.{n}."
        out.update({row + "Host": "" if n == total else f"hop{n}.net.example", row + "HostAddress":
                    _hop_address(host, n, total), row + "ErrorCode": 0, row + "RTTimes": ",".join(times)})
    state = "Complete" if total <= max_hops else "Error_MaxHopCountExceeded"
    out.update({TRACEROUTE + "DiagnosticsState": state, TRACEROUTE + "ResponseTime": max(1, round(rtt))})
    return out


def _test_bytes(url: str, given: int) -> int:
    """The transfer's size: the upload's ``TestFileLength``, else a size the URL names
    (``/10MB.bin``), else 25 MB."""
    if given > 0:
        return given
    m = _SIZE.search(url.rsplit("/", 1)[-1])
    if not m:
        return _DEFAULT_TEST_BYTES
    return int(m.group(1)) * {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}[m.group(2).lower()]


def url_problem(url: str, resolvable_name: bool) -> str | None:
    """The TR-143 error state for a URL the device cannot use, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ftp") or not parts.hostname:
        return "Error_InitConnectionFailed"
    if parts.hostname.endswith(".invalid") or (not _looks_ip(parts.hostname) and not resolvable_name):
        return "Error_CannotResolveHostName"
    return None


def transfer(kind: str, access: str, link: dict[str, Any], seed: str, url: str, resolvable_name: bool, now: datetime,
             file_length: int = 0) -> dict[str, Scalar | None]:
    """A TR-143 download or upload test (``kind`` ``download``/``upload``): byte counters and the
    ROM/BOM/EOM and TCP-open timestamps from which the throughput is read (bytes × 8 / (EOM − BOM));
    a degraded link delivers a fraction of the access technology's rate."""
    base = DOWNLOAD if kind == "download" else UPLOAD
    problem = url_problem(url, resolvable_name)
    if problem:
        return {base + "DiagnosticsState": problem}
    down, up = _RATES.get(access, _RATES["cable"])
    rnd = _rnd(seed, kind, url)
    mbps = (down if kind == "download" else up) * rnd.uniform(0.88, 0.97)
    if link.get("degraded"):
        mbps *= rnd.uniform(0.05, 0.2)
    mbps *= 1.0 - float(link.get("loss_pct", 0.0)) / 100.0
    size = _test_bytes(url, file_length)
    rtt = timedelta(milliseconds=float(link.get("latency_ms", 10.0)))
    rom = now
    bom = rom + 2 * rtt
    eom = bom + timedelta(seconds=size * 8 / (max(mbps, 0.5) * 1_000_000))
    out: dict[str, Scalar | None] = {
        base + "DiagnosticsState": "Complete", base + "ROMTime": _iso(rom), base + "BOMTime": _iso(bom),
        base + "EOMTime": _iso(eom), base + "TCPOpenRequestTime": _iso(rom), base + "TCPOpenResponseTime":
        _iso(rom + rtt),
    }
    if kind == "download":
        out.update({base + "TestBytesReceived": size, base + "TotalBytesReceived": size + size // 50})
    else:
        out.update({base + "TotalBytesSent": size + size // 50})
    return out


def throughput_mbps(values: dict[str, Any], base: str) -> float:
    """Mbit/s from a completed test's values (what an operator reads off the result)."""
    key = "TestBytesReceived" if base == DOWNLOAD else "TotalBytesSent"
    bom = datetime.fromisoformat(str(values[base + "BOMTime"]).replace("Z", "+00:00"))
    eom = datetime.fromisoformat(str(values[base + "EOMTime"]).replace("Z", "+00:00"))
    secs = (eom - bom).total_seconds()
    return int(values[base + key]) * 8 / secs / 1_000_000 if secs > 0 else 0.0
