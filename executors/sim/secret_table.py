"""Which of the paths a simulated device can show are secrets: ``secret_paths.json``.

Why a generated table: :func:`core.kernel.secrets.is_secret_path` imports and loads the TR-181 and TR-098
data-model registries on first use (~0.1 s here), a third of what ``gateward device ID`` may take
in all. The simulator can only ever show the paths of its catalogue, so their answers are computed
here, once, with :mod:`core.kernel.secrets` itself, and :func:`executors.sim.lite.is_secret_path` looks
them up (anything else it still asks :mod:`core.kernel.secrets`). ``tests/unit/test_cli_device_lite.py``
fails when the file is not what this module computes today. Regenerate it with
``python -m executors.sim.secret_table``.
"""

from __future__ import annotations

import json

from executors.sim.catalog import default_identity, generic_path, models
from executors.sim.lite import SECRET_TABLE_PATH
from executors.sim.state import DeviceState


def shown_paths() -> set[str]:
    """Every path a simulated device can show in a read, in its ``{i}`` form: each TR-181
    model's parameters, and the TR-181 view of each TR-098 model's factory tree."""
    out: set[str] = set()
    for model in models():
        if not model.is_tr098:
            out.update(model.param_schema())
            continue
        for region in model.regions:
            state = DeviceState(
                id="x", model_key=model.key, region=region, upstream_id=None, record_json="{}",
                identity=default_identity(model, "TABLE0000001"), overrides={}, parameter_key="", online=True,
                reachable=True, boot_count=1, boot_ts=0.0, last_inform=0.0, faults={}, link={}, version=1,
            )
            out.update(generic_path(p) for p in state.view())
    return out


def secret_table() -> dict[str, list[str]]:
    """The content of ``secret_paths.json``, computed with :mod:`core.kernel.secrets` (slow: it loads the
    data-model registries)."""
    from core.kernel.secrets import is_secret_path as judge

    paths = sorted(shown_paths())
    return {"secret": [p for p in paths if judge(p)], "plain": [p for p in paths if not judge(p)]}


def write_secret_table() -> None:
    SECRET_TABLE_PATH.write_text(json.dumps(secret_table(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - regenerates secret_paths.json
    write_secret_table()
