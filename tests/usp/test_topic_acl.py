"""One topic per agent, kept by the broker (issue 58 item 4): the Mosquitto ``acl_file`` docs/usp.md
gives, on a real Mosquitto started for this test, lets an agent read the Records published to its own
topic and nothing published to another agent's — whatever it subscribes to."""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from executors.usp.topics import agent_topic
from testing.mqtt_broker import MqttBroker, find_mosquitto

pytestmark = pytest.mark.mqtt
DOCS = Path(__file__).resolve().parents[2] / "docs" / "usp.md"
A, B = "os::00D09E-ACL0001", "os::00D09E-ACL0002"


def _documented_acl() -> str:
    found = re.search(r"<!-- acl_file -->\s*```\n(.*?)```\s*<!-- /acl_file -->", DOCS.read_text("utf-8"), re.S)
    assert found, "docs/usp.md has no acl_file block"
    return found.group(1)


class _Client:
    """A plain MQTT 5 client that keeps what it receives."""

    def __init__(self, url: str, client_id: str, username: str | None = None) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username is not None:
            self.c.username_pw_set(username)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda *_a: self.subscribed.set()
        host, port = url.removeprefix("mqtt://").split(":")
        self.c.connect(host, int(port))
        self.c.loop_start()

    def subscribe(self, *topics: str) -> None:
        for t in topics:
            self.subscribed.clear()
            self.c.subscribe(t, qos=1)
            assert self.subscribed.wait(5), f"no SUBACK for {t}"

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")
def test_with_the_documented_acl_an_agent_cannot_read_another_agents_records() -> None:
    # Mosquitto started as root reads the ACL after dropping to its own user: a world-readable file
    # (pytest's tmp_path is private to root)
    with tempfile.TemporaryDirectory(prefix="gw-acl-") as where:
        os.chmod(where, 0o755)
        acl = Path(where) / "acl"
        acl.write_text(_documented_acl())
        acl.chmod(0o644)
        a, b = _exchange(str(acl))
    assert b == [(agent_topic(B), f"a Record for {B}".encode())]
    # its own Record (once per subscription that matches it), and nothing of B's
    assert a and set(a) == {(agent_topic(A), f"a Record for {A}".encode())}, a


def _exchange(acl: str) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Agents A and B on the broker with ``acl``; A subscribes to everything it can name, B to its
    own topic; the controller publishes a Record to each. What each received."""
    with MqttBroker(kind="mosquitto", extra=(f"acl_file {acl}",)) as broker:
        a, b = _Client(broker.url, A), _Client(broker.url, B)
        controller = _Client(broker.url, "gw-controller-acl", username="gateward")
        try:
            a.subscribe(agent_topic(A), agent_topic(B), "usp/agent/#", "#")  # A tries to read everything
            b.subscribe(agent_topic(B))
            for ep in (A, B):
                controller.c.publish(agent_topic(ep), f"a Record for {ep}".encode(), qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (a.got and b.got):
                time.sleep(0.05)
            time.sleep(0.5)  # anything else would have arrived by now
        finally:
            for c in (a, b, controller):
                c.close()
    return a.got, b.got
