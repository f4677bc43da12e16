"""OPA mode: the Data API server is faithful, decisions match embedded mode, outages deny."""

from __future__ import annotations

import io
import json
import random
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import regorus
import requests

from policies import samples as S
from policies.bundle import bundle_files, write_bundle
from policies.engine import EmbeddedRegoEngine, OpaServerEngine, parse_decision
from policies.loader import load_sources
from testing.opa_server import OpaApiServer

# How long a request may wait for the server's answer: a liveness deadline, not a speed bound (at
# load 20 on two cores an answer took over 5 s and the test failed on a server that was working).
ANSWER_S = 60


@pytest.fixture(scope="module")
def server() -> Iterator[OpaApiServer]:
    with OpaApiServer(EmbeddedRegoEngine()) as srv:
        yield srv


@pytest.fixture(scope="module")
def opa(server: OpaApiServer) -> Iterator[OpaServerEngine]:
    engine = OpaServerEngine(server.url, timeout_ms=5000)
    yield engine
    engine.close()


def test_health(server: OpaApiServer) -> None:
    r = requests.get(f"{server.url}/health", timeout=ANSWER_S)
    assert r.status_code == 200 and r.json() == {}


def test_decision_over_the_data_api(server: OpaApiServer) -> None:
    r = requests.post(f"{server.url}/v1/data/gateward/decision", json={"input": S.policy_input()}, timeout=ANSWER_S)
    assert r.status_code == 200
    assert r.json()["result"]["allow"] is True


def test_undefined_is_200_without_result(server: OpaApiServer) -> None:
    for path in ("gateward/nothing_here", "nope/at/all"):
        r = requests.post(f"{server.url}/v1/data/{path}", json={"input": {}}, timeout=ANSWER_S)
        assert r.status_code == 200 and r.json() == {}


def test_missing_input_key_warns_like_opa(server: OpaApiServer) -> None:
    r = requests.post(f"{server.url}/v1/data/gateward/data/limits/blind_bulk_max_targets", json={}, timeout=ANSWER_S)
    assert r.json() == {
        "result": 1,
        "warning": {"code": "api_usage_warning", "message": "'input' key missing from the request"},
    }


def test_get_and_package_paths(server: OpaApiServer) -> None:
    r = requests.get(f"{server.url}/v1/data/gateward/data/secrets/min_length", timeout=ANSWER_S)
    assert r.json() == {"result": 12}
    r = requests.post(f"{server.url}/v1/data/gateward/input", json={"input": {}}, timeout=ANSWER_S)
    assert "deny" in r.json()["result"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_malformed_body_is_400_invalid_parameter(server: OpaApiServer, body: bytes) -> None:
    r = requests.post(f"{server.url}/v1/data/gateward/decision", data=body, timeout=ANSWER_S)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_parameter"
    assert r.json()["message"].startswith("body contains malformed input document")


def _corpus(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    channels = [1, 6, 11, 13, 36, 44, 52, 100, 144, 149, 165, 200]
    out = [doc for _, doc in S.self_check_inputs() if "proposal" in doc and isinstance(doc["proposal"], dict)]
    for i in range(n):
        devices = [
            S.device(
                f"d{i}-{j}",
                region=rng.choice(["DE", "GB", "US", "FR", "ZZ"]),
                vendor=rng.choice(["AVM", "Sagemcom", "Nobody"]),
                model=rng.choice(["FRITZ!Box 7590", "F@st 5866T"]),
                compat=rng.choice([None, None, "green", "yellow", "red"]),
                reboots_24h=rng.randint(0, 3),
                failed_changes_7d=rng.randint(0, 4),
            )
            for j in range(rng.randint(1, 3))
        ]
        changes = rng.choice(
            [
                [S.change(f"Device.WiFi.Radio.{rng.randint(1, 2)}.Channel", rng.choice(channels))],
                [S.passphrase_change(rng.choice(["short", "orange-kettle-harbour", "password1234"]))],
                [S.change("Device.ManagementServer.URL", "https://acs", "string")],
                [],
            ]
        )
        ops = rng.choice(
            [[], [], [{"command": rng.choice(["reboot", "factory_reset", "download"]), "args": {}}]]
        )
        if not changes and not ops:
            ops = [{"command": "reboot", "args": {}}]
        out.append(
            S.policy_input(
                devices=devices,
                changes=changes,
                operations=ops,
                roles=rng.choice(
                    [["support_agent"], ["approver"], ["automation"], ["auditor"], ["senior_approver"]]
                ),
                kind=rng.choice(["human", "job"]),
                emergency=rng.random() < 0.2,
                now=rng.choice([S.IN_WINDOW_NOW, S.OUT_OF_WINDOW_NOW]),
                target_count=len(devices) * rng.choice([1, 1, 40, 2000]),
            )
        )
    return out


def test_identical_decisions_embedded_and_opa(engine: EmbeddedRegoEngine, opa: OpaServerEngine) -> None:
    corpus = _corpus(60)
    assert len(corpus) > 60
    for doc in corpus:
        assert opa.decide_detailed(doc) == engine.decide_detailed(doc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_denies() -> None:
    engine = OpaServerEngine(f"http://127.0.0.1:{_free_port()}", timeout_ms=300)
    d = engine.decide(S.policy_input())
    assert not d.allow and d.deny[0].startswith("policy unavailable: cannot reach OPA")
    assert not engine.healthy()


def test_slow_server_denies() -> None:
    with OpaApiServer(EmbeddedRegoEngine(), delay_s=0.5) as slow:
        d = OpaServerEngine(slow.url, timeout_ms=100).decide(S.policy_input())
        assert not d.allow and d.deny[0].startswith("policy unavailable")
        assert "did not answer within 100 ms" in d.deny[0]


def test_a_client_that_left_is_not_a_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    """A client that gave up before the answer (a timed-out decision) leaves the answer nowhere to
    go: OPA says nothing of it, and neither does the double — no traceback in a green run's output."""
    before = set(threading.enumerate())
    with OpaApiServer(EmbeddedRegoEngine(), delay_s=0.3) as slow:
        with socket.create_connection(("127.0.0.1", slow.port)) as sock:
            body = json.dumps({"input": S.policy_input()}).encode()
            sock.sendall(b"POST /v1/data/gateward/decision HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            handlers = _new_threads(before)  # the server took the connection and is answering it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        # closed with a reset: the delayed answer meets it. The connection's thread ends after that.
        for t in handlers:
            t.join(timeout=ANSWER_S)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err


def _new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    for _ in range(ANSWER_S * 20):
        # a thread enumerate() lists may not have begun yet (join() refuses it): only running ones,
        # and only the server's connection handlers (socketserver names them after their target)
        new = {t for t in set(threading.enumerate()) - before
               if t.name != "opa-api" and "process_request" in t.name and t.is_alive()}
        if new:
            return new
        threading.Event().wait(0.05)
    raise AssertionError("the server never took the connection")


def test_server_error_and_undefined_deny(tmp_path: Path) -> None:
    rules = tmp_path / "rego"
    rules.mkdir()
    (rules / "d.rego").write_text(
        'package gateward\n\nimport rego.v1\n\ndecision := {"allow": true} if input.never\n'
        'boom := startswith(input.proposal.target_count, "x")\n'
    )
    data = tmp_path / "data"
    data.mkdir()
    with OpaApiServer(EmbeddedRegoEngine(rules, data, self_check=False)) as srv:
        opa = OpaServerEngine(srv.url, timeout_ms=2000)
        d = opa.decide(S.policy_input())
        assert d.deny[0].startswith("policy undefined")
        r = requests.post(f"{srv.url}/v1/data/gateward/boom", json={"input": S.policy_input()}, timeout=ANSWER_S)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"


def test_bundle_layout(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    revision = write_bundle(path)
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile(".manifest"))  # type: ignore[arg-type]
        data = json.load(tar.extractfile("data.json"))  # type: ignore[arg-type]
    sources = load_sources()
    assert manifest == {"revision": sources.revision, "roots": ["gateward"], "rego_version": 1}
    assert revision == sources.revision
    assert {f"policies/{n}" for n, _ in sources.rules} <= names
    assert not any(n.endswith("_test.rego") for n in names)
    assert set(data) == {"gateward"} and set(data["gateward"]) == {"data"}
    assert "sha256_lower" in data["gateward"]["data"]["common_passwords"]


def test_bundle_decides_like_the_embedded_engine(engine: EmbeddedRegoEngine, tmp_path: Path) -> None:
    """Load the bundle's members into a bare regorus engine, as an OPA would: same decisions."""
    files = bundle_files(load_sources())
    raw = regorus.Engine()
    for name, payload in files.items():
        if name.endswith(".rego"):
            raw.add_policy(name, payload.decode())
    raw.add_data_json(files["data.json"].decode())
    for doc in _corpus(10, seed=3):
        raw.set_input_json(json.dumps(doc))
        got = json.loads(raw.eval_rule_as_json("data.gateward.decision"))
        detailed = engine.decide_detailed(doc)
        assert got["allow"] == detailed.decision.allow
        assert parse_decision(got).decision == detailed.decision
    assert io  # keeps the import honest for type checkers
