"""The USP adapter over the WebSocket MTP under the executor contract suite (issue 37 item 5).

The same fleet and twin as the MQTT harness (``harness_usp``), but every simulated agent is a real
WebSocket client of the controller's WebSocket server on 127.0.0.1 (``executors.sim.usp_ws``):
each Record and each answer travels over that agent's own connection. The contract must hold
unchanged whichever MTP carries the Records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.contract.conftest import Harness, register_harness
from tests.contract.harness_usp import usp_harness_over
from tests.usp.ws_support import usp_ws_rig


@register_harness("usp-websocket", marks=[pytest.mark.mqtt])
@contextmanager
def usp_ws_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from usp_harness_over("usp-websocket", usp_ws_rig, tmp_path)
