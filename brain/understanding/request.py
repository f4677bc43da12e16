"""The typed request: what a support agent asked for, whole, before any planning.

Why one typed object between understanding and planning: a planner that reads text directly acts
on the part it recognises and silently drops the rest ("switch to 11 *unless a neighbour sits
there*", "restart it *at 4 in the morning*", "rename *the 5 GHz one*"); the draft is valid, so
policy and approval pass it, and it is not what was asked. Here every understander — the offline
parser (``brain.understanding.offline``) or a model through the same JSON schema as a tool
(``brain.prompts``) — fills the same fields, and one checker (``brain.understanding.checker``)
decides: every part placed, or a question naming the part. Nothing else reaches the planner.

The fields are the design card's (DESIGN.md §3 "Request"): an act, the action and its values, the
scope (this gateway or a fleet slice), the targets on the device (band, SSID role — read from the
device's own data, never guessed from a name the agent typed), and the qualifiers: conditions
(checks on live facts, re-run when the write starts), a not-before time in the device's local zone,
exclusions, a reference to an earlier turn (correction, confirmation) — and the parts it could not
place. Strings are the agent's words (secrets already masked as ``[secret:N]``): data, never
instructions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.kernel.models import Scalar

Band = Literal["2.4GHz", "5GHz", "6GHz"]
SsidRole = Literal["primary", "guest", "backhaul"]
Act = Literal["change", "question", "diagnose", "acknowledge", "reference", "empty"]
Action = Literal["channel", "width", "power", "band_enable", "dns", "inform_interval", "reboot", "ping",
                 "factory_reset", "traceroute", "speedtest", "ssid", "passphrase", "ssid_enable",
                 "ssid_hide", "dhcp_lease"]
# Live facts a condition can name; each has one evaluator (``brain.qualify``) and one re-check at
# write time (``core.preconditions``).
Fact = Literal["dns_servers", "neighbour_on_channel", "hosts_connected", "online", "firmware", "channel",
               "band_enabled", "ssid_enabled", "uptime", "power"]
Expect = Literal["empty", "nonempty", "eq", "ne", "gt", "lt"]
PartKind = Literal["condition", "time", "scope", "exclusion", "value", "target", "object", "request"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Model):
    """Where on this gateway: the bands named (none: not named) and the SSID's role."""

    bands: list[Band] = Field(default_factory=list, description="bands the request is limited to; [] = not named")
    ssid_role: SsidRole | None = Field(default=None,
                                       description="which network: the primary, the guest or the backhaul one")
    words: str = ""


class Condition(_Model):
    """A check on a live fact that must hold for the change to go ahead ("only if …", "unless …")."""

    fact: Fact
    expect: Expect = Field(description="what the fact must be for the change to go ahead")
    value: Scalar | None = Field(default=None, description="the value compared with (eq/ne)")
    band: Band | None = None
    words: str = Field(description="the words of the message this condition came from")


class Schedule(_Model):
    """Not before this time (aware, UTC; shown in the device's zone)."""

    not_before: datetime
    zone: str = Field(description="the device's IANA zone the time was read in")
    words: str
    assumed: str | None = Field(default=None, description="what was filled in, said in the read-back (e.g. the hour)")


class Scope(_Model):
    """This gateway, or devices other than this one (a fleet slice, a building, a neighbourhood)."""

    kind: Literal["this_device", "fleet", "building", "neighbourhood"] = "this_device"
    model: str | None = None
    firmware: str | None = None
    region: str | None = None
    place: str | None = Field(default=None, description="a city or area named (not an inventory field)")
    all_devices: bool = False
    this_too: bool = Field(default=False, description="this gateway is named beside the others")
    words: str = ""


class Reference(_Model):
    """The message answers or amends an earlier turn — or, ``beside``, asks for a change of its own next to the
    draft that waits ("and the 2.4 to 6 as well" after "the 5 GHz on 40"), which then stays as it is."""

    kind: Literal["confirm", "cancel", "correct", "beside"]
    words: str


class Unplaced(_Model):
    """A part of the message the understander could not put into the request."""

    words: str
    kind: PartKind
    why: str = ""


class Request(_Model):
    """One support message, understood whole (see the module docstring)."""

    act: Act
    action: Action | None = None
    intent: str = Field(default="unknown", description="the planner's Intent for the diagnosis (brain.plan.Intent)")
    topics: list[str] = Field(default_factory=list, description="question topics to answer from facts")
    values: dict[str, Scalar] = Field(default_factory=dict, description="the action's values as given")
    servers: list[str] = Field(default_factory=list, description="DNS servers asked for, in order")
    target: Target = Field(default_factory=Target)
    scope: Scope = Field(default_factory=Scope)
    conditions: list[Condition] = Field(default_factory=list)
    schedule: Schedule | None = None
    immediate: bool = Field(default=False, description="the agent said now / right away")
    exclusions: list[str] = Field(default_factory=list, description="things the agent said not to touch (words)")
    refers_to: Reference | None = None
    unplaced: list[Unplaced] = Field(default_factory=list)
    source: Literal["offline", "model"] = "offline"

    @property
    def qualified(self) -> bool:
        """Anything beyond the bare action: what a planner that reads only the action would drop."""
        return bool(self.conditions or self.schedule or self.target.bands or self.target.ssid_role
                    or self.exclusions or self.scope.kind != "this_device")
