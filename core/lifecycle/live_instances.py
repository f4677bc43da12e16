"""Before validation refuses a path into a table instance the stored model lacks, ask the device.

Why: the stored instance numbers are the device's last discovery, a snapshot. An instance made
after it — by the controller itself (its subscriptions), by another controller, by the subscriber —
was refused as missing ("it has no Device.LocalAgent.Subscription instances") while the device had
it (found against OB-USP-Agent). So a proposal naming a few devices, whose paths the stored
model would refuse on instance grounds only, is checked live first: a path the device answers is
added to its stored instances (``core.capabilities.note_instances``) and validation then passes it;
a path the device does not answer is refused as before, now on live evidence. Runs before the
proposal's transaction (a device read never holds the store), read-only, and never raises: an
unreachable device leaves the stored model to decide.
"""

from __future__ import annotations

import logging

from core.capabilities import RULE_INSTANCE, for_devices, note_instances
from core.kernel.models import ProposalDraft
from core.kernel.ports.executor import ExecutorError
from core.lifecycle.device_io import GrantedIO
from core.store import Store, repo

log = logging.getLogger("gateward.lifecycle")

#: at most this many named targets are asked (a fleet-wide selector validates on the stored model)
LIVE_CHECK_MAX = 16


def refresh_before_validate(store: Store, io: GrantedIO, draft: ProposalDraft) -> dict[str, list[str]]:
    """Check live the paths the stored model would refuse as a missing instance; returns
    ``{device_id: [instances added]}`` (empty when nothing needed asking or nothing was found)."""
    named = list(dict.fromkeys(draft.targets))
    if draft.selector is not None or not draft.changes or not named or len(named) > LIVE_CHECK_MAX:
        return {}
    with store.read() as s:
        devices = repo.get_devices(s, named)
        caps = for_devices(s, devices.values())
    added: dict[str, list[str]] = {}
    for device_id, cap in caps.items():
        doubtful = [c.path for c in draft.changes
                    if (c.target in (None, device_id)) and (refused := cap.problem(c.path)) is not None
                    and refused[0] == RULE_INSTANCE]
        if not doubtful:
            continue
        d = devices[device_id]
        try:
            found = io.read_tolerant(d, doubtful)
        except ExecutorError as exc:  # unreachable: the stored model decides, as without this check
            log.info("live instance check of %s skipped: %s", device_id, exc)
            continue
        present = [path for path in doubtful if path in found]
        if present:
            with store.write() as s:
                added[device_id] = note_instances(s, d, present)
    return added
