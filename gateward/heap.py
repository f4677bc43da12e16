"""The serving process's start-up heap, frozen (:func:`freeze_start_up_heap`).

Why: what ``gateward run`` builds before it serves — the runtime, the policy engine, the data-model
registry, the demo's twin, every imported module — lives as long as the process. CPython's cyclic
collector still walks all of it at every full collection, a pause the request being served waits
out, for objects that can never be garbage. ``gc.freeze()`` moves them to a generation the
collector ignores (``gateward bench run_heap`` measures the pause with and without; the USP fan-out
bench found ~5 µs a Set from an unfrozen 1,000-device twin, docs/performance.md D21). Objects
frozen here that later die are still freed by reference counting; only a reference cycle among
them would stay, and the start-up heap does not churn.
"""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
