"""``gateward chat`` against a running Gateward server: the chat API over HTTP.

Why: in-process, a ``gateward chat -m`` turn pays the interpreter, SQLAlchemy and the schema, the
policy engine, the data-model registry and (for a diagnosis) LangGraph before the planner thinks
for ~0.1 s — 1.4–2.7 s of CPU a turn. A support agent's terminal in production talks to the
running server instead (``--server URL`` / ``GATEWARD_SERVER_URL``, the agent's API token in
``GATEWARD_TOKEN`` or ``GATEWARD_TOKEN_FILE``), whose planner is already loaded: the same routes the
console uses (``api/routers/chat.py``), the same events, the same scrubbing, the same rules (the
token says who; the server checks the thread's owner).

This module imports httpx and the standard library only: no SQLAlchemy, no brain, no policies
(``tests/brain/test_cli_chat_server.py`` checks the import set of a process that ran a turn).
Every failure becomes :class:`RemoteError`, one line naming the problem and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.kernel.jsontypes import Json, JsonObject

SERVER_ENV = "GATEWARD_SERVER_URL"
TOKEN_ENV = "GATEWARD_TOKEN"  # a secret setting (core/kernel/secret_env.py): GATEWARD_TOKEN_FILE works too
CONNECT_TIMEOUT_S = 5.0
TURN_TIMEOUT_S = 300.0  # a model-backed turn with an apply and its verification can take minutes


class RemoteError(Exception):
    """A refused or failed call, as one line. ``code`` is the exit code: 2 when the request was
    refused (token, role, unknown thread or device, bad input), 1 when the server is unavailable."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class RemoteEvent:
    """A chat event as the server streamed it: what ``_print_event`` reads (``kind``, ``text``,
    ``data``), and the JSON line ``--json`` prints (the server's own event document)."""

    kind: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def model_dump_json(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, separators=(",", ":"))


def _detail(r: httpx.Response) -> tuple[str, str]:
    """The error body's ``(error, detail)`` (``api/errors.py``'s one shape), or the status text."""
    try:
        body = r.json()
    except ValueError:
        return "", (r.text.strip()[:200] or r.reason_phrase)
    if not isinstance(body, dict):
        return "", str(body)[:200]
    return str(body.get("error") or ""), str(body.get("detail") or body.get("error") or r.reason_phrase)


def refusal(r: httpx.Response, base: str) -> RemoteError:
    """The one line for a non-2xx answer."""
    code, detail = _detail(r)
    s = r.status_code
    if s == 401:
        return RemoteError(f"the server at {base} refused the API token ({detail}); set {TOKEN_ENV} or "
                           f"{TOKEN_ENV}_FILE to a valid token (`gateward users token NAME`)")
    if s == 403:
        return RemoteError(f"forbidden: {detail}")
    if s == 404:
        return RemoteError(detail if code == "not_found" else f"not found at {base}: {detail}"
                           " (is --server the Gateward server's base URL?)")
    if s == 503 and code == "shutting_down":
        return RemoteError(f"the server at {base} is shutting down and takes no new turns; retry in a moment "
                           "(another replica, or this one once restarted)", 1)
    if s in (429, 503):
        return RemoteError(f"the server at {base} is unavailable ({s} {code or 'unavailable'}): {detail}", 1)
    if s >= 500:
        return RemoteError(f"the server at {base} failed ({s}): {detail}", 1)
    return RemoteError(f"the server refused the request ({s} {code}): {detail}")


def awaiting_from(events: list[RemoteEvent]) -> JsonObject | None:
    """What the thread waits for after these events, as ``ChatService.awaiting`` says it in-process
    (``{"kind": "confirm"|"approval", "proposal_id": …}``), read from the turn's last event about a
    proposal: a proposal approved (or a question about it) waits for the agent's confirm, one
    awaiting approval (or a notice that it still is) for the approvers; an outcome ends the wait."""
    for ev in reversed(events):
        pid = ev.data.get("proposal_id")
        if not pid:
            continue
        if ev.kind == "proposal":
            state = ev.data.get("state")
            return ({"kind": "confirm", "proposal_id": pid} if state == "approved" else
                    {"kind": "approval", "proposal_id": pid} if state == "awaiting_approval" else None)
        if ev.kind == "question":
            return {"kind": "confirm", "proposal_id": pid}
        if ev.kind == "notice" and "waiting for approval" in ev.text:
            return {"kind": "approval", "proposal_id": pid}
        return None
    return None


class RemoteChat:
    """The chat routes of one Gateward server, as the CLI's chat loop calls them."""

    mode = "server"

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise RemoteError(f"--server must be an http:// or https:// URL (got {base_url!r})")
        if not token:
            raise RemoteError(f"--server needs an API token: set {TOKEN_ENV} (or {TOKEN_ENV}_FILE, a file holding "
                              "it); an admin issues one with `gateward users token NAME`")
        self.base = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"},
                                    timeout=httpx.Timeout(TURN_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                                    transport=transport)
        self._last: dict[str, list[RemoteEvent]] = {}

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self._client.request(method, path, **kw)
        except httpx.TimeoutException:
            raise RemoteError(f"the server at {self.base} did not answer in time", 1) from None
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach the Gateward server at {self.base} ({type(exc).__name__}: "
                              f"{exc or 'no connection'}); is it running, and is --server / {SERVER_ENV} right?",
                              1) from None
        if r.status_code >= 400:
            raise refusal(r, self.base)
        return r

    def me(self) -> JsonObject:
        """Who the token belongs to (``GET /api/me``)."""
        return dict(self._call("GET", "/api/me").json())

    def start(self, device_id: str | None) -> str:
        return str(self._call("POST", "/api/chat/threads", json={"device_id": device_id}).json()["thread_id"])

    def history(self, thread_id: str) -> list[RemoteEvent]:
        doc = self._call("GET", f"/api/chat/threads/{thread_id}").json()
        return [_event(e) for e in doc.get("events", [])]

    def send(self, thread_id: str, text: str, secret: str | None = None) -> Iterator[RemoteEvent]:
        body: dict[str, Json] = {"text": text}
        if secret is not None:
            body["secret"] = secret  # the secret field: only in this request's body
        return self._stream(thread_id, f"/api/chat/threads/{thread_id}/messages", body)

    def resume(self, thread_id: str) -> Iterator[RemoteEvent]:
        return self._stream(thread_id, f"/api/chat/threads/{thread_id}/resume", None)

    def awaiting(self, thread_id: str) -> JsonObject | None:
        return awaiting_from(self._last.get(thread_id, []))

    def _stream(self, thread_id: str, path: str, body: Mapping[str, Json] | None) -> Iterator[RemoteEvent]:
        """The turn's events as the server streams them (SSE: ``event:``/``data:`` frames, ending with
        ``end``). A turn that failed on the server (an ``error`` frame with a top-level ``error``
        code, ``api/routers/chat.py`` ``_on_error``) raises, as the in-process turn does."""
        seen: list[RemoteEvent] = []
        self._last[thread_id] = seen
        try:
            with self._client.stream("POST", path, json=body) as r:
                if r.status_code >= 400:
                    r.read()
                    raise refusal(r, self.base)
                name, data = "", ""
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif not line and name:
                        if name == "end":
                            return
                        doc = json.loads(data or "{}")
                        if "error" in doc and "thread_id" not in doc:
                            raise RemoteError(str(doc.get("text") or doc["error"]))
                        ev = _event(doc)
                        seen.append(ev)
                        yield ev
                        name, data = "", ""
        except httpx.TimeoutException:
            raise RemoteError(f"the server at {self.base} did not finish the turn in {TURN_TIMEOUT_S:g} s", 1) from None
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach the Gateward server at {self.base} ({type(exc).__name__}: "
                              f"{exc or 'no connection'}); is it running, and is --server / {SERVER_ENV} right?",
                              1) from None
        raise RemoteError(f"the server at {self.base} ended the turn's stream early (no end frame)", 1)


def _event(doc: dict[str, Any]) -> RemoteEvent:
    return RemoteEvent(kind=str(doc.get("kind") or ""), text=str(doc.get("text") or ""),
                       data=dict(doc.get("data") or {}), raw=doc)


__all__ = ["SERVER_ENV", "TOKEN_ENV", "RemoteChat", "RemoteError", "RemoteEvent", "awaiting_from", "refusal"]
