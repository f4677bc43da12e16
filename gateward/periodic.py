"""A background schedule of ``gateward run``: one daemon thread calling ``run_once`` every
``interval_s``, a failing round logged and retried at the next, never ending the thread."""

from __future__ import annotations

import logging
import threading
from typing import Self

log = logging.getLogger("gateward.periodic")


class Periodic:
    name = "periodic"
    first_at_once = False  # run a first round at start, not after one interval

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        if self.first_at_once:
            self._round()
        while not self._stop.wait(self.interval_s):
            self._round()

    def _round(self) -> None:
        try:
            self.run_once()
        except Exception:  # a database restart must not end the schedule
            log.exception("%s: a round failed", self.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
