"""The evaluation scenario format (documented in ``evals/README.md``) and its loader.

A scenario is data: which fleet (seed, size), which device (by injected condition, id or
subscriber), what to set up on the simulator, what the support agent says (or which telemetry
trigger fires for the automation job), and what must — and must not — be true afterwards on the
device. Files are YAML or JSON under ``evals/scenarios/``; a file holds one scenario or a list.
Validation is strict (unknown keys are errors) so a typo fails loudly instead of silently testing
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.kernel.models import Scalar

ExpectedOutcome = Literal["change", "question", "escalation", "answer", "no_change"]
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FleetRef(_Strict):
    seed: int = 7
    homes: int = 60


class DeviceRef(_Strict):
    """Exactly one of: ``condition`` (+ ``index``: the n-th device the generator gave that
    condition, optionally restricted to a ``model``), ``id``, or ``subscriber_label``."""

    condition: str | None = None
    index: int = 0
    model: str | None = None
    root: Literal["Device.", "InternetGatewayDevice."] | None = None
    protocol: Literal["cwmp", "usp"] | None = None
    id: str | None = None
    subscriber_label: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> DeviceRef:
        ways = sum(x is not None for x in (self.condition, self.id, self.subscriber_label))
        if ways != 1:
            raise ValueError("device needs exactly one of condition, id, subscriber_label")
        return self


_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_AGO_UNIT_S = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
Band = Literal["2.4GHz", "5GHz", "6GHz"]


def ago_seconds(text: str | int | float) -> float:
    """``"90m"``, ``"6h"``, ``"3d"``, ``"2w"`` (or a number of minutes) → seconds in the past.
    Raises ``ValueError`` naming the accepted forms, so a typo fails the file, not the run."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"a time in the past must not be negative (got {text})")
        return float(text) * 60
    m = _AGO.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a duration: write e.g. 90m, 6h, 3d or 2w")
    return float(m.group(1)) * _AGO_UNIT_S[m.group(2)]


class OtherDevice(_Strict):
    """Another device a setup step applies to (multi-device setups). Exactly one of: ``relation``
    to the scenario's device (``pon_sibling``: another gateway on the same OLT port / CMTS node;
    ``building_neighbour``: another gateway tagged with the same building), ``id``, or
    ``condition`` (+ ``index``). ``index`` picks the n-th match (stable order by device id)."""

    relation: Literal["pon_sibling", "building_neighbour"] | None = None
    id: str | None = None
    condition: str | None = None
    index: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_way(self) -> OtherDevice:
        if sum(x is not None for x in (self.relation, self.id, self.condition)) != 1:
            raise ValueError("device needs exactly one of relation, id, condition")
        return self


class PresenceSetup(_Strict):
    """The device's presence as the ACS/controller sees it: offline (or unreachable) since
    ``last_seen`` ago — the device row's last contact and the simulator's last inform agree."""

    online: bool = False
    reachable: bool | None = Field(None, description="default: same as online")
    last_seen: str | float = Field("2h", description="how long ago it was last heard from: 90m, 30h, 3d…")

    @model_validator(mode="after")
    def _ago(self) -> PresenceSetup:
        ago_seconds(self.last_seen)
        return self


class PastChange(_Strict):
    """A change in the device's history (a proposal that ran ``ago``), e.g. the same channel fix
    twice in a week. It is recorded in the store with its timestamp; the device is not touched."""

    changes: dict[str, Scalar] = Field(default_factory=dict, description="path → value; {5GHz} expands")
    operations: list[Literal["reboot", "factory_reset", "download"]] = Field(default_factory=list)
    ago: str | float = Field(description="when it ran: 90m, 36h, 3d, 2w")
    state: Literal["done", "rolled_back", "failed", "denied", "cancelled", "rejected"] = "done"
    intent: str = "earlier change"
    author: str = "sam"

    @model_validator(mode="after")
    def _some(self) -> PastChange:
        ago_seconds(self.ago)
        if not self.changes and not self.operations:
            raise ValueError("a past change needs changes or operations")
        return self


class CampaignSetup(_Strict):
    """A live campaign whose selection includes the device, created through the real campaign
    service (validated, previewed, decided by policy) and left un-started: its staged proposal
    is live on the device, as a running rollout's would be."""

    name: str = "eval live campaign"
    changes: dict[str, Scalar] = Field(default_factory=dict, description="path → value; {5GHz} expands")
    operations: list[Literal["reboot", "download"]] = Field(default_factory=list)
    author: str = "dave"

    @model_validator(mode="after")
    def _some(self) -> CampaignSetup:
        if not self.changes and not self.operations:
            raise ValueError("a campaign needs changes or operations")
        return self


class CompatSetup(_Strict):
    """A compatibility-matrix entry from evidence for the device's (vendor, model, firmware) and
    ``workflow``: the execution outcomes that give ``status`` under the pack's thresholds (or
    the counts given). Policy and the planner read the same row."""

    workflow: Literal["config", "reboot", "factory_reset", "download"] = "config"
    status: Literal["green", "yellow", "red"] | None = None
    succeeded: int | None = Field(None, ge=0)
    failed: int | None = Field(None, ge=0)
    rollback_failed: int | None = Field(None, ge=0)
    note: str | None = None

    @model_validator(mode="after")
    def _status_or_counts(self) -> CompatSetup:
        counts = (self.succeeded, self.failed, self.rollback_failed)
        if (self.status is None) == all(c is None for c in counts):
            raise ValueError("compat needs a status or outcome counts (succeeded, failed, rollback_failed), "
                             "not both")
        return self


class HostSetup(_Strict):
    """A LAN host the gateway lists (``Device.Hosts.Host.{i}``): on Wi-Fi ``band`` (its
    ``Layer1Interface`` is that band's primary SSID) or wired (no band)."""

    name: str = Field(min_length=1, max_length=64)
    band: Band | None = None
    active: bool = True
    mac: str | None = Field(None, pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


Root = Literal["Device.", "InternetGatewayDevice."]

SETUP_KINDS = ("fault", "params", "telemetry", "event", "neighbor", "presence", "past_change", "campaign",
               "compat", "hosts", "roots")


class SetupStep(_Strict):
    """One change to the world before the chat (applied to the simulator or the store), on the
    scenario's device or — with ``device`` — another device of the fleet."""

    fault: str | None = Field(None, description="simulator fault kind: offline, unreachable, slow, …")
    fault_params: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Scalar] | None = Field(None, description="TR-181 values the device itself takes on")
    telemetry: dict[str, Any] | None = Field(
        None, description="{metric, value, labels?, hours?, ago?} samples to add; a label value {5GHz} is that "
                          "band's radio index")
    event: dict[str, Any] | None = Field(None, description="{kind, data, minutes_ago? | ago?} device event to add")
    neighbor: dict[str, Any] | None = Field(None, description="{ssid, band, channel, rssi_dbm} AP the device hears")
    presence: PresenceSetup | None = None
    past_change: PastChange | None = None
    campaign: CampaignSetup | None = None
    compat: CompatSetup | None = None
    hosts: list[HostSetup] | None = None
    roots: list[Root] | None = Field(
        None, min_length=2, max_length=2,
        description="a device exposing both data-model roots; the first is the one the ACS registered "
                    "(GenieACS's inventory picks Device. when both have DeviceInfo)")
    device: OtherDevice | None = Field(None, description="apply this step to another device")

    @model_validator(mode="after")
    def _one(self) -> SetupStep:
        n = sum(getattr(self, k) is not None for k in SETUP_KINDS)
        if n != 1:
            raise ValueError(f"a setup step does exactly one of {', '.join(SETUP_KINDS)}")
        for key, item in (("telemetry", self.telemetry), ("event", self.event)):
            if item is not None and "ago" in item:
                ago_seconds(item["ago"])
            if item is not None and "minutes_ago" in item and "ago" in item:
                raise ValueError(f"{key}: give ago or minutes_ago, not both")
        if self.telemetry is not None and ("metric" not in self.telemetry or "value" not in self.telemetry):
            raise ValueError("telemetry needs metric and value")
        if self.event is not None and "kind" not in self.event:
            raise ValueError("event needs kind")
        if self.roots is not None and len(set(self.roots)) != 2:
            raise ValueError("roots lists Device. and InternetGatewayDevice., the registered one first")
        if self.campaign is not None and self.device is not None:
            raise ValueError("a campaign is set up on the scenario's device (its selection includes it)")
        return self


class ParamCheck(_Strict):
    """A predicate on one parameter's final live value. ``{2.4GHz}``/``{5GHz}`` in the path stand
    for that band's radio index on this device."""

    path: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    gte: float | None = None
    lte: float | None = None
    nonempty: bool | None = None
    changed: bool | None = None
    not_dfs: bool | None = None
    dfs: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Kpi(_Strict):
    """A service indicator that must hold afterwards (see ``evals.checks.KPIS``)."""

    name: Literal["radar_free", "interference_not_worse", "dns_servers_present", "inform_interval_ok",
                  "tx_power_at_least"]
    band: str | None = None
    value: float | None = None


class Forbid(_Strict):
    """Something that must not happen: a parameter value on the device, an operation in any
    proposal, any proposal at all, or a change on any other device."""

    path: str | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    dfs: bool | None = None
    changed: bool | None = None
    operation: str | None = None
    any_proposal: bool | None = None
    other_devices: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NotBeforeCheck(_Strict):
    """When a scheduled proposal may start, read in the device's local time zone: the hour (and
    minute), optionally the weekday, and at most ``within_days`` days after the chat."""

    local_hour: int = Field(ge=0, le=23)
    local_minute: int | None = Field(None, ge=0, le=59)
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None = None
    within_days: float = Field(7, gt=0)


class ProposalCheck(_Strict):
    """Checks on the last proposal itself (not the device): which paths it sets (``{5GHz}`` etc.
    expand as in ``ParamCheck``), exact values, operations, how many devices it targets, which
    approver roles policy asked for, and which evidence it carries."""

    paths: list[str] = Field(default_factory=list, description="every one of these paths is in the changes")
    only_paths: bool = Field(False, description="and nothing else is changed")
    values: dict[str, Scalar] = Field(default_factory=dict, description="path → exact proposed value")
    operations: list[str] = Field(default_factory=list, description="operations it must carry (reboot, …)")
    targets: int | None = Field(None, description="number of target devices")
    approvals: list[str] | None = Field(None, description="approver roles policy required (all of them; [] = none)")
    evidence: list[str] = Field(default_factory=list,
                                description="evidence kinds it carries (history, wifi_neighbors, chat, …)")
    scheduled: bool | None = Field(None, description="true: it carries a not-before time in the future; "
                                                     "false: it carries none")
    not_before: NotBeforeCheck | None = Field(None, description="the not-before time, in the device's local zone")
    preconditions: bool | None = Field(None, description="true: it carries at least one precondition (a check "
                                                         "on live facts re-run when the write starts); false: none")


class CampaignCheck(_Strict):
    """Checks on the campaign the planner drafted in its reply (a fleet slice): what it changes,
    its operations, its target selector, its ring plan and how many gateways it covers."""

    paths: list[str] = Field(default_factory=list)
    values: dict[str, Scalar] = Field(default_factory=dict)
    operations: list[str] = Field(default_factory=list)
    target: dict[str, str] = Field(default_factory=dict, description="selector fields, e.g. {model: PX-7000}")
    canary_pct: float | None = None
    rings: list[float] | None = None
    devices: int | None = Field(None, description="gateways in the slice")


class Expect(_Strict):
    outcome: ExpectedOutcome | list[ExpectedOutcome] = Field(description="one outcome, or a list: any of them")
    final_state: str | None = Field(None, description="proposal state at the end (default: done for change)")
    params: list[ParamCheck] = Field(default_factory=list)
    kpis: list[Kpi] = Field(default_factory=list)
    text_contains: list[str] = Field(default_factory=list)
    must_not_say: list[str] = Field(default_factory=list, description="words none of the planner's replies contain")
    proposal: ProposalCheck | None = None
    campaign: CampaignCheck | None = Field(None, description="checks on the campaign drafted in the reply")

    @property
    def outcomes(self) -> list[str]:
        return list(self.outcome) if isinstance(self.outcome, list) else [self.outcome]


class LLMSpec(_Strict):
    """Scripted model turns for ``--planner llm`` against the local fake endpoint."""

    script: list[dict[str, Any]]
    expect: Expect | None = Field(None, description="overrides ``expect`` for the llm planner")


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{2,80}$")
    title: str
    classes: list[str] = Field(min_length=1, description="what it covers: playbook, outage, tr098, injection…")
    fleet: FleetRef = Field(default_factory=FleetRef)
    device: DeviceRef
    agent: str = "alice"
    setup: list[SetupStep] = Field(default_factory=list)
    message: str | None = None
    trigger: str | None = Field(None, description="telemetry trigger kind, run as the automation actor")
    followups: list[str] = Field(default_factory=list, description="further agent messages after the first turn")
    secret: str | None = Field(None, description="the secret field (issue 54: a passphrase never rides in the text): "
                                                 "sent with the last message the scenario sends")
    confirm: bool = Field(True, description="answer 'apply' when the planner asks for confirmation")
    approvers: list[str] = Field(default_factory=list, description="who approves when policy requires approval")
    expect: Expect
    expect_if_compat: dict[Literal["green", "yellow", "red"], Expect] = Field(
        default_factory=dict, description="replaces expect when the device's config compat status is this")
    forbid: list[Forbid] = Field(default_factory=list)
    llm: LLMSpec | None = None
    known_issue: str | None = Field(None, description="a product gap outside the planner that makes it fail today")
    at: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                           description="the device's local time (HH:MM) when the chat begins: a scenario that says "
                                       "'tonight at 23:00' or 'at 10am today' means one hour of the day, not the "
                                       "hour the suite happens to run at")

    @model_validator(mode="after")
    def _message_or_trigger(self) -> Scenario:
        if (self.message is None) == (self.trigger is None):
            raise ValueError("a scenario has exactly one of message, trigger")
        return self


class ScenarioError(ValueError):
    pass


class ParaphraseSet(_Strict):
    """Other wordings of one scenario's message in one language (deliverable 7: robustness as a
    figure). Each phrasing becomes its own run with the base scenario's device, setup and
    expectations; ``heldout`` phrasings are kept apart so that a figure exists for wordings nobody
    tuned the planner against."""

    paraphrase_of: str
    lang: Literal["en", "de", "fr", "es"]
    messages: list[str] = Field(default_factory=list)
    heldout: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some(self) -> ParaphraseSet:
        if not self.messages and not self.heldout:
            raise ValueError("a paraphrase set needs messages or heldout phrasings")
        if any(not m.strip() for m in [*self.messages, *self.heldout]):
            raise ValueError("a paraphrase is empty")
        return self


PARAPHRASE = "paraphrase"


def is_paraphrase(classes: Iterable[str]) -> bool:
    return PARAPHRASE in classes


def expand_paraphrases(sets: list[ParaphraseSet], base: dict[str, Scenario]) -> list[Scenario]:
    """One scenario per phrasing: the base scenario with the message replaced, classes tagged with
    ``paraphrase``, ``lang:<xx>`` and ``heldout`` or ``tuning``; no model script (the script was
    written for the base wording)."""
    out: list[Scenario] = []
    for ps in sets:
        sc = base.get(ps.paraphrase_of)
        if sc is None:
            raise ScenarioError(f"paraphrases of unknown scenario {ps.paraphrase_of!r}")
        if sc.message is None:
            raise ScenarioError(f"scenario {sc.id!r} is a trigger; it has no message to paraphrase")
        for tag, texts in (("tuning", ps.messages), ("heldout", ps.heldout)):
            for n, text in enumerate(texts, start=1):
                sid = f"{sc.id}.{ps.lang}-{tag[0]}{n}"
                classes = [*sc.classes, PARAPHRASE, f"lang:{ps.lang}", tag]
                out.append(sc.model_copy(update={"id": sid, "message": text, "classes": classes, "llm": None,
                                                 "title": f"{sc.title} [{ps.lang} paraphrase]"}))
    return out


def _load_file(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from exc
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(i, dict) for i in items):
        raise ScenarioError(f"{path}: expected a scenario mapping or a list of them")
    return items


def load_scenarios(paths: Iterable[Path | str] | Path | str | None = None) -> list[Scenario]:
    """Every scenario under the given files/directories (default: ``evals/scenarios``), sorted by
    file then position. Raises :class:`ScenarioError` naming the file and scenario on any problem."""
    if paths is None:
        paths = [SCENARIO_DIR]
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml", ".json"))
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioError(f"{p}: no such file or directory")
    out: list[Scenario] = []
    seen: dict[str, Path] = {}
    sets: list[tuple[Path, ParaphraseSet]] = []
    for f in files:
        for i, item in enumerate(_load_file(f)):
            if "paraphrase_of" in item:
                try:
                    sets.append((f, ParaphraseSet.model_validate(item)))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise ScenarioError(f"{f}: paraphrases #{i + 1}: {'.'.join(map(str, first['loc']))}: "
                                        f"{first['msg']}") from exc
                continue
            try:
                sc = Scenario.model_validate(item)
            except ValidationError as exc:
                where = item.get("id", f"#{i + 1}")
                first = exc.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                raise ScenarioError(f"{f}: scenario {where}: {loc}: {first['msg']}") from exc
            if sc.id in seen:
                raise ScenarioError(f"{f}: scenario id {sc.id!r} is already used in {seen[sc.id]}")
            seen[sc.id] = f
            out.append(sc)
    return out + _paraphrases(sets, out)


def _paraphrases(sets: list[tuple[Path, ParaphraseSet]], loaded: list[Scenario]) -> list[Scenario]:
    """Expand paraphrase sets; a base scenario not among the loaded files comes from the default
    directory (so ``--scenarios evals/scenarios/paraphrases`` works on its own)."""
    if not sets:
        return []
    base = {s.id: s for s in loaded}
    if any(ps.paraphrase_of not in base for _, ps in sets):
        extra = [s for s in load_scenarios([SCENARIO_DIR]) if not is_paraphrase(s.classes)]
        base = {s.id: s for s in extra} | base
    out: list[Scenario] = []
    for f, ps in sets:
        try:
            out += expand_paraphrases([ps], base)
        except ScenarioError as exc:
            raise ScenarioError(f"{f}: {exc}") from exc
    ids = {s.id for s in loaded}
    clash = next((s.id for s in out if s.id in ids), None)
    if clash:
        raise ScenarioError(f"paraphrase id {clash!r} is already used")
    return out
