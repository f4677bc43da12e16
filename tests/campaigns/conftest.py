from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def campaign_runtime(url: str, homes: int = 60) -> Any:
    """A runtime over a simulated fleet (60 homes: enough for a canary and three rings). No
    snapshots: previews of up to 200 devices read them live anyway."""
    from core.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=homes, seed=11, snapshots=False)
    return rt


@pytest.fixture
def crt(db_url: str) -> Iterator[Any]:
    """A runtime over ``db_url``, which is already a copy of the 60-home fleet without snapshots
    (``tests.conftest.SEEDED_BY``: seeded once per process, copied per test)."""
    from core.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url))
    yield rt
    rt.close()


@pytest.fixture
def svc(crt: Any) -> Any:
    from campaigns.service import Campaigns

    return Campaigns(crt)
