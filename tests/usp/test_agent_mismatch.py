"""Issue 11: a suspected controller endpoint-ID mismatch is visible to every process.

The process that sees a connected agent leave its requests unanswered (or address its records to
another controller) stores both endpoint IDs; another process — ``gateward usp topics``,
``gateward device ID`` — names them; the first record the agent addresses to us clears it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.kernel.models import Protocol
from core.store import Store, repo
from core.usp_topics import TopicBook, device_mismatch
from executors.base import DeviceOffline, Timeout
from executors.usp.executor import endpoint_for
from tests.usp.support import BrokerInfo, wait_until
from tests.usp.test_agent_topics import _executor, obuspa_like

pytestmark = pytest.mark.mqtt


def test_the_book_shares_a_mismatch_between_processes_and_a_reply_clears_it(store: Store) -> None:
    ours, theirs = "proto::gw-ours", "self::usp-controller"
    seer = TopicBook(store)
    assert seer.note_mismatch("os::AAAAAA-M1", None, ours, "Get unanswered after 3.0s") is True
    assert seer.note_mismatch("os::AAAAAA-M1", None, ours, "Get unanswered after 3.0s") is False  # no rewrite
    assert seer.note_mismatch("os::AAAAAA-M1", theirs, ours) is True  # now its records name the other one
    assert seer.note_mismatch("os::AAAAAA-M1", None, ours) is False  # a later silence keeps the name
    assert seer.note_mismatch("x" * 200, theirs, ours) is False  # not an endpoint ID the table can hold
    seer.close()
    other = TopicBook(store)  # another process
    got = other.mismatches()
    assert set(got) == {"os::AAAAAA-M1"}
    text = got["os::AAAAAA-M1"].message()
    assert theirs in text and ours in text and "os::AAAAAA-M1" in text
    # A third process hears the agent address it: the row goes, though it never noted it.
    third = TopicBook(store)
    assert third.clear_mismatch("os::AAAAAA-M1") is True
    assert third.clear_mismatch("os::AAAAAA-M1") is False  # the next records cost a dict lookup
    assert third.mismatches() == {}  # unflushed deletes already count
    third.close()
    assert TopicBook(store).mismatches() == {}


def test_a_silent_connected_agent_is_reported_by_another_process_until_it_answers(
        tmp_path: Path, usp_broker: BrokerInfo, store: Store) -> None:
    """The agent is configured for us and connected, then stops answering (it would, with a
    controller endpoint ID it does not know). The warning outlives the process that saw it."""
    ours = f"proto::gw-silent-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, ours) as (twin, host, loop, device):
        usp_device = device.model_copy(update={"adapter": "usp"})
        ep = endpoint_for(usp_device)
        ex = _executor(usp_broker, ours, store)
        try:
            loop.run(host.start())
            wait_until(lambda: (st := ex.controller.agent(ep)) is not None and bool(st.connected), 10, "connect")
            assert ex.read(usp_device, ["Device.DeviceInfo.SerialNumber"])
            twin.inject(device.id, "unreachable")
            loop.run(host.sync(device.id))
            with pytest.raises((Timeout, DeviceOffline)):
                ex.with_timeout(0.3).read(usp_device, ["Device.DeviceInfo.UpTime"])
        finally:
            ex.close()  # the process that saw it ends
        mm = TopicBook(store).mismatches([ep]).get(ep)
        assert mm is not None and mm.controller_id == ours and mm.agent_controller_id is None
        assert ours in mm.message() and "unknown" in mm.message()
        assert device_mismatch(store, usp_device) == mm
        cwmp = usp_device.model_copy(update={"protocol": Protocol.CWMP, "adapter": "genieacs"})
        assert device_mismatch(store, cwmp) is None  # a CWMP device has no USP agent to warn about
        # The agent answers again: the next process that hears it clears the warning for everyone.
        twin.clear(device.id, "unreachable")
        loop.run(host.sync(device.id))
        again = _executor(usp_broker, ours, store)
        try:
            assert again.read(usp_device, ["Device.DeviceInfo.SerialNumber"])
        finally:
            again.close()
        assert TopicBook(store).mismatches([ep]) == {}


@pytest.mark.slow
def test_cli_processes_name_both_endpoint_ids(tmp_path: Path, usp_broker: BrokerInfo, db_url: str) -> None:
    """An agent configured for another controller: ``gateward usp topics`` and ``gateward device
    ID`` in fresh processes name both endpoint IDs; the API device view does too."""
    theirs, ours = "self::usp-controller", f"proto::gw-cli-mm-{uuid.uuid4().hex[:8]}"
    topic = f"/usp/controller-{uuid.uuid4().hex[:6]}"
    store = Store(db_url)
    try:
        with obuspa_like(tmp_path, usp_broker, theirs, controller_topic=topic) as (_twin, host, loop, device):
            usp_device = device.model_copy(update={"adapter": "usp"})
            with store.write() as s:
                s.add(repo.device_to_row(usp_device))
            ep = endpoint_for(usp_device)
            ex = _executor(usp_broker, ours, store, controller_topic=topic)
            try:
                loop.run(host.start())
                wait_until(lambda: ex.controller.foreign_controller(ep) == theirs, 10, "the agent's foreign record")
            finally:
                ex.close()
            env = {**os.environ, "GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_DATABASE_URL": db_url,
                   "GATEWARD_MQTT_URL": usp_broker.url, "GATEWARD_USP_ENDPOINT_ID": ours, "COLUMNS": "400"}

            def run(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run([sys.executable, "-m", "gateward.cli", *args], env=env, capture_output=True,
                                      text=True, timeout=120)

            topics = run("usp", "topics")
            assert topics.returncode == 0, topics.stderr
            shown = " ".join(topics.stdout.split())
            assert "warning" in shown and ep in shown and theirs in shown and ours in shown
            one = run("device", device.id)
            shown = " ".join(one.stdout.split())
            assert f"configured controller is {theirs!r}" in shown and ours in shown, one.stdout + one.stderr
            # issue 37 item 7: `gateward usp get` names them as `gateward device` does
            got = run("usp", "get", device.id, "Device.DeviceInfo.SerialNumber", "--timeout", "1")
            said = " ".join((got.stdout + got.stderr).split())
            assert got.returncode == 2, said
            assert f"configured controller is {theirs!r}" in said and ours in said, said
    finally:
        store.dispose()


def test_a_silent_agent_addressing_us_is_not_called_a_mismatch() -> None:
    """Seen with the real agent after ``Reboot()``: "the controller endpoint IDs probably do not match —
    the agent's configured controller is 'X', this controller is 'X'". Its records name us, so the IDs
    match and the message now says the agent is busy or restarting; naming another controller (or none
    heard yet) still points at the endpoint IDs."""
    from executors.usp.controller import UspController

    ctl = UspController("mqtt://127.0.0.1:1", endpoint_id="proto::controller-gateward")
    ours = ctl._state("os::00D09E-BUSY1")
    ours.connected, ours.addressed_to = True, ctl.endpoint_id
    said = ctl.mismatch(ours.endpoint_id)
    assert "endpoint IDs match" in said and "busy or restarting" in said and "Reboot()" in said
    assert "do not match" not in said
    unknown = ctl._state("os::00D09E-QUIET")
    unknown.connected = True  # connected (a relayed presence) but none of its records read here
    assert "probably do not match" in ctl.mismatch(unknown.endpoint_id)
    ctl._note_foreign("os::00D09E-OTHER", "self::usp-controller")
    assert "do not match: agent os::00D09E-OTHER is configured for controller 'self::usp-controller'" in \
        ctl.mismatch("os::00D09E-OTHER")


def test_devices_add_names_the_mismatch_the_controller_already_saw(tmp_path: Path, usp_broker: BrokerInfo) -> None:
    """An agent configured for another controller was seen by a controller process (its records
    address that one); an admin then adds it by hand. The agent never answers this controller, and
    ``devices add`` says why in words, from the store (``set_up`` → ``device_hints``): both endpoint
    IDs and what to change — not only "no answer"."""
    from testing.cli import run_cli

    theirs, ours = "self::usp-controller", f"proto::gw-add-mm-{uuid.uuid4().hex[:8]}"
    topic = f"/usp/controller-{uuid.uuid4().hex[:6]}"
    env = {"GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_MQTT_URL": usp_broker.url,
           "GATEWARD_USP_ENDPOINT_ID": ours, "GATEWARD_USP_CONTROLLER_TOPIC": topic, "COLUMNS": "400"}
    assert run_cli("seed", "--homes", "0", env=env).returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'var' / 'gateward.db'}")
    try:
        with obuspa_like(tmp_path, usp_broker, theirs, controller_topic=topic) as (_twin, host, loop, device):
            ep = endpoint_for(device.model_copy(update={"adapter": "usp"}))
            ex = _executor(usp_broker, ours, store, controller_topic=topic)
            try:
                loop.run(host.start())
                wait_until(lambda: ex.controller.foreign_controller(ep) == theirs, 10, "the agent's foreign record")
            finally:
                ex.close()  # the process that saw it ends; the store keeps what it saw
            assert TopicBook(store).mismatches([ep]), "the mismatch was not stored"
            added = run_cli("devices", "add", "--adapter", "usp", "--endpoint-id", ep, "--as", "dave",
                            "--timeout", "1", env=env)
    finally:
        store.dispose()
    said = " ".join(added.stderr.split())
    assert added.returncode == 1, added.stdout + added.stderr
    assert f"registered {ep}" in added.stdout, added.stdout
    assert "not contacted:" in said and "Registered all the same; next:" in said, said
    assert f"USP agent {ep} addresses its records to another controller" in said, said
    assert f"the agent's configured controller is {theirs!r}, this controller is {ours!r}" in said, said
    assert "set GATEWARD_USP_ENDPOINT_ID or the agent's Device.LocalAgent.Controller.{i}.EndpointID" in said, said
    assert "Traceback" not in said
