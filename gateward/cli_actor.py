"""``--as NAME``: who a CLI command acts as. Required by every command that acts as a person.

Why required, with no default: a command that proposes, approves, applies or rolls back is
audited under a person's name, and separation of duties is checked against it. A default (the
demo's ``alice`` or ``bob``) made an operator who forgot the option act as someone else, and on a
real directory fail with a confusing "unknown user". ``GATEWARD_ACTOR`` sets it for a shell session.
Read-only commands do not take it. The CLI trusts the name (it runs on the operator's own
machine); roles always come from the user directory.
"""

from __future__ import annotations

from typing import Annotated

import typer

ENV = "GATEWARD_ACTOR"
MISSING = (f"this command acts as a person: say who with --as NAME (or set {ENV}); "
           "roles come from the user directory (`gateward users list`)")


def require_actor(ctx: typer.Context, value: str | None) -> str:
    """Option callback: the name, or exit 2 with a message naming ``--as`` when none was given."""
    name = (value or "").strip()
    if not name and not ctx.resilient_parsing:
        from rich.console import Console

        Console(stderr=True).print(f"[red]error:[/red] {MISSING}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    return name


As = Annotated[str, typer.Option("--as", envvar=ENV, callback=require_actor, show_default=False,
                                 help=f"who is acting (required; or {ENV}); roles come from the user directory")]
