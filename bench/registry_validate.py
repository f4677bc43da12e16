"""How fast the data-model registry validates proposed changes.

Why it matters: every change of every proposal is validated per target device's model before
it is hashed, previewed and gated; a campaign over a million devices runs this check millions
of times, and the planner's self-check runs it inside an interactive loop.  The target is
≥ 200,000 validations/s on one core.

The mix is realistic rather than flattering: concrete instance numbers (Radio.1–4, SSID and
AccessPoint 1–8, DNS servers, hosts), both roots (TR-181 and TR-098), string/int/bool/list/
enum/pattern/secret parameters, and about a third invalid values (out of range, wrong type,
read-only, unknown path, read-only enum value), since rejections build an exception and a
message and are the slower path.
"""

from __future__ import annotations

import gc
import random
import time
from typing import Any

from bench.framework import BenchResult, percentile
from core.kernel.datamodel.registry import DATA_FILES, DataModelError, Registry, get_registry, load_table

NAME = "registry_validate"
KEYS = ("validations_per_s", "lookups_per_s")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "TR-181/TR-098 registry: validate() and lookup() throughput and latency on a mixed workload"

TARGET_PER_S = 200_000


def _mix(tr181: Registry, tr098: Registry, rng: random.Random) -> list[tuple[Registry, str, Any, bool]]:
    """(registry, path, value, expected_valid) cases with concrete instance numbers."""
    cases: list[tuple[Registry, str, Any, bool]] = []
    for r in range(1, 5):
        radio = f"Device.WiFi.Radio.{r}."
        cases += [
            (tr181, radio + "Channel", rng.choice([1, 6, 11, 36, 149]), True),
            (tr181, radio + "Channel", str(rng.choice([1, 6, 11, 36])), True),
            (tr181, radio + "Channel", 300, False),
            (tr181, radio + "Channel", "abc", False),
            (tr181, radio + "AutoChannelEnable", rng.choice(["true", "false", True, 0]), True),
            (tr181, radio + "OperatingChannelBandwidth", rng.choice(["20MHz", "40MHz", "80MHz"]), True),
            (tr181, radio + "OperatingChannelBandwidth", "7MHz", False),
            (tr181, radio + "OperatingStandards", "ax,ac,n", True),
            (tr181, radio + "TransmitPower", rng.choice([-1, 50, 100]), True),
            (tr181, radio + "RegulatoryDomain", "DE ", True),
            (tr181, radio + "RegulatoryDomain", "de", False),
            (tr181, radio + "PossibleChannels", "1,6,11", False),  # read-only
        ]
    for i in range(1, 9):
        ssid = f"Device.WiFi.SSID.{i}."
        sec = f"Device.WiFi.AccessPoint.{i}.Security."
        cases += [
            (tr181, ssid + "SSID", f"HomeNet-{i}", True),
            (tr181, ssid + "Enable", True, True),
            (tr181, sec + "ModeEnabled", "WPA2-Personal", True),
            (tr181, sec + "KeyPassphrase", "correct horse battery", True),
            (tr181, sec + "KeyPassphrase", "short", False),
            (tr181, f"Device.WiFi.AccessPoint.{i}.SSIDAdvertisementEnabled", "1", True),
            (tr098, f"InternetGatewayDevice.LANDevice.1.WLANConfiguration.{i}.Channel", 6, True),
            (tr098, f"InternetGatewayDevice.LANDevice.1.WLANConfiguration.{i}.TransmitPower", 101, False),
            (tr098, f"InternetGatewayDevice.LANDevice.1.WLANConfiguration.{i}.SSID", "Legacy", True),
            (tr098, f"InternetGatewayDevice.LANDevice.1.WLANConfiguration.{i}.BeaconType", "11i", True),
        ]
    for i in range(1, 4):
        cases += [
            (tr181, f"Device.DNS.Client.Server.{i}.DNSServer", "1.1.1.1", True),
            (tr181, f"Device.DNS.Client.Server.{i}.Enable", "true", True),
            (tr181, f"Device.Hosts.Host.{i}.HostName", "laptop", False),  # read-only
        ]
    cases += [
        (tr181, "Device.DeviceInfo.UpTime", 5, False),
        (tr181, "Device.DeviceInfo.ProvisioningCode", "ISP-A", True),
        (tr181, "Device.ManagementServer.PeriodicInformInterval", "3600", True),
        (tr181, "Device.ManagementServer.PeriodicInformInterval", 0, False),
        (tr181, "Device.IP.Diagnostics.IPPing.DiagnosticsState", "Requested", True),
        (tr181, "Device.IP.Diagnostics.IPPing.DiagnosticsState", "Complete", False),
        (tr181, "Device.IP.Diagnostics.IPPing.Host", "example.net", True),
        (tr181, "Device.Time.NTPServer1", "pool.ntp.org", False),  # deleted in 2.19
        (tr181, "Device.Foo.Bar", 1, False),
        (tr181, "Device.WiFi.Radio.1.X_ACME_Turbo", True, False),
        (tr098, "InternetGatewayDevice.ManagementServer.PeriodicInformInterval", 300, True),
    ]
    return cases


def _run_mix(cases: list[tuple[Registry, str, Any, bool]], rounds: int) -> tuple[float, int, int]:
    ok = bad = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for reg, path, value, _expected in cases:
            try:
                reg.validate(path, value)
                ok += 1
            except DataModelError:
                bad += 1
    return time.perf_counter() - start, ok, bad


def run(quick: bool) -> BenchResult:
    # Cold load of all three tables (decompress, parse, index), independent of the process cache.
    t0 = time.perf_counter()
    for file_name in DATA_FILES.values():
        Registry(load_table(file_name))
    load_s = time.perf_counter() - t0
    tr181 = get_registry("Device.", "cwmp")
    tr098 = get_registry("InternetGatewayDevice.")
    t0 = time.perf_counter()
    tr181.precompile()
    tr098.precompile()
    precompile_s = time.perf_counter() - t0

    rng = random.Random(181)
    cases = _mix(tr181, tr098, rng)
    rng.shuffle(cases)
    # Sanity: the mix must behave as labelled, or the figure measures the wrong thing.
    for reg, path, value, expected in cases:
        valid = reg.check(path, value) is None
        if valid != expected:
            raise AssertionError(f"bench mix mislabelled: {path}={value!r} valid={valid}")
    invalid_share = sum(1 for c in cases if not c[3]) / len(cases)

    target_calls = 300_000 if quick else 3_000_000
    rounds = max(1, target_calls // len(cases))
    _run_mix(cases, max(1, rounds // 20))  # warm the concrete-path cache
    gc.disable()
    try:
        elapsed, ok, bad = _run_mix(cases, rounds)
        valid_only = [c for c in cases if c[3]]
        invalid_only = [c for c in cases if not c[3]]
        v_el, v_ok, _ = _run_mix(valid_only, max(1, target_calls // 4 // len(valid_only)))
        i_el, _, i_bad = _run_mix(invalid_only, max(1, target_calls // 4 // len(invalid_only)))

        # Lookups: warm (cached concrete path) and cold (instance numbers never seen before).
        paths = [(reg, path) for reg, path, _v, _e in cases if reg.find(path) is not None]
        n_lookups = target_calls
        lk_rounds = max(1, n_lookups // len(paths))
        start = time.perf_counter()
        for _ in range(lk_rounds):
            for reg, path in paths:
                reg.lookup(path)
        lookup_s = time.perf_counter() - start
        lookups = lk_rounds * len(paths)
        cold_n = 20_000 if quick else 100_000
        cold_paths = [f"Device.WiFi.SSID.{1000 + k}.SSID" for k in range(cold_n)]
        start = time.perf_counter()
        for path in cold_paths:
            tr181.lookup(path)
        cold_s = time.perf_counter() - start

        # Per-call latency (perf_counter_ns around each call; the timer's own cost is reported).
        samples = 50_000 if quick else 300_000
        lat: list[int] = []
        ns = time.perf_counter_ns
        overhead = []
        for _ in range(2000):
            a = ns()
            overhead.append(ns() - a)
        timer_ns = percentile(overhead, 50)
        n = len(cases)
        for k in range(samples):
            reg, path, value, _e = cases[k % n]
            a = ns()
            try:  # noqa: SIM105 - contextlib.suppress would add its own cost inside the timed region
                reg.validate(path, value)
            except DataModelError:
                pass
            lat.append(ns() - a)
    finally:
        gc.enable()

    calls = ok + bad
    per_s = calls / elapsed
    metrics = {
        "validations_per_s": round(per_s),
        "valid_only_per_s": round(v_ok / v_el),
        "invalid_only_per_s": round(i_bad / i_el),
        "lookups_per_s": round(lookups / lookup_s),
        "cold_lookups_per_s": round(cold_n / cold_s),
        "validate_p50_ns": round(percentile(lat, 50) - timer_ns),
        "validate_p99_ns": round(percentile(lat, 99) - timer_ns),
        "timer_overhead_ns": round(timer_ns),
        "registry_load_ms": round(load_s * 1000, 1),
        "precompile_ms": round(precompile_s * 1000, 1),
        "target_ratio": round(per_s / TARGET_PER_S, 2),
    }
    params = {
        "quick": quick,
        "calls": calls,
        "cases": len(cases),
        "invalid_share": round(invalid_share, 2),
        "roots": ["Device.", "InternetGatewayDevice."],
        "model": tr181.model_version,
        "target_validations_per_s": TARGET_PER_S,
    }
    rows = [
        ("validate(), mixed (valid + invalid)", f"{metrics['validations_per_s']:,} /s"),
        ("validate(), valid values only", f"{metrics['valid_only_per_s']:,} /s"),
        ("validate(), invalid values only", f"{metrics['invalid_only_per_s']:,} /s"),
        ("validate() p50 / p99", f"{metrics['validate_p50_ns']:,} / {metrics['validate_p99_ns']:,} ns"),
        ("lookup(), cached concrete path", f"{metrics['lookups_per_s']:,} /s"),
        ("lookup(), first sight of a path", f"{metrics['cold_lookups_per_s']:,} /s"),
        ("cold load of 3 tables / precompile TR-181+TR-098",
         f"{metrics['registry_load_ms']} / {metrics['precompile_ms']} ms"),
        ("vs target 200,000 /s", f"{metrics['target_ratio']}x"),
    ]
    notes = [
        f"{len(cases)} cases, {invalid_share:.0%} invalid, {calls:,} timed calls; "
        f"latency is net of a {timer_ns:.0f} ns timer cost.",
    ]
    return BenchResult(name=NAME, metrics=metrics, params=params, rows=rows, notes=notes)


if __name__ == "__main__":
    import sys

    from bench.framework import print_result

    print_result(run("--quick" in sys.argv))
