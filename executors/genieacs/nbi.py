"""A small, typed client for the GenieACS northbound interface (NBI, port 7557).

Why its own layer: the NBI speaks in status codes *and reason phrases* — a 202 means "done but
faulted", "queued, not processed" or "the connection request failed", and only the phrase tells
them apart (``lib/nbi.ts``). This module turns every answer into a :class:`TaskOutcome` or a
typed :class:`NbiError`, so the executor above never looks at raw HTTP. The NBI has no
authentication of its own (operators put it behind a proxy), so the client carries an optional
``Authorization`` header, TLS settings (CA bundle, client certificate) and an HTTP(S) proxy; the
header value is never logged or shown.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from executors.genieacs.ids import url_segment
from executors.genieacs.tasks import validate_task

REASON_FAULTED = "Task faulted"
REASON_QUEUED = "Task queued but not processed"
REASON_OFFLINE = "Device is offline"

OutcomeKind = Literal["done", "faulted", "queued", "connection_failed", "accepted"]


class NbiError(Exception):
    """Base of the client's errors. ``maybe_applied`` is True when the request may have reached
    GenieACS (so a task may be queued there even though no answer came back)."""

    maybe_applied = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NbiUnavailable(NbiError):
    """No usable answer: connection refused or dropped, timeout, or a 5xx. Retrying may help."""

    def __init__(self, message: str, *, status: int | None = None, maybe_applied: bool = False) -> None:
        super().__init__(message, status=status)
        self.maybe_applied = maybe_applied


class NbiRejected(NbiError):
    """GenieACS refused the request (4xx other than 404): a malformed query or task."""


class NbiAuthError(NbiRejected):
    """401/403 from whatever guards the NBI: the configured auth header is missing or wrong."""


class NoSuchDevice(NbiError):
    """404 "No such device": GenieACS has never heard from a CPE with this id."""


@dataclass(frozen=True)
class TaskOutcome:
    """What ``POST /devices/<id>/tasks`` answered."""

    status_code: int
    reason: str
    task: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return str(self.task.get("_id", ""))

    @property
    def kind(self) -> OutcomeKind:
        if self.status_code == 200:
            return "done"
        if self.reason == REASON_FAULTED:
            return "faulted"
        if self.reason == REASON_QUEUED:
            return "queued"
        if self.reason and self.reason != "Accepted":
            return "connection_failed"
        return "accepted"


def _auth_headers(auth_header: str | None) -> dict[str, str]:
    """``"Basic abc"`` → ``Authorization: Basic abc``; ``"X-Api-Key: abc"`` → that header."""
    if not auth_header:
        return {}
    name, sep, value = auth_header.partition(":")
    if sep and name.strip() and " " not in name.strip() and not name.strip().lower().startswith(("basic", "bearer")):
        return {name.strip(): value.strip()}
    return {"Authorization": auth_header.strip()}


def ssl_context(
    verify: bool | str = True, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext | bool:
    """TLS settings for httpx: ``verify`` is a bool or a CA bundle path; an optional client cert."""
    if verify is False:
        return False
    ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    return ctx


class NbiClient:
    """Synchronous NBI client (one pooled ``httpx.Client``; safe to share between threads)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_header: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        client_cert: str | None = None,
        client_key: str | None = None,
        proxy: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"GenieACS NBI URL must be http(s)://host:port, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        tls: ssl.SSLContext | bool = (
            verify if isinstance(verify, ssl.SSLContext) else ssl_context(verify, client_cert, client_key)
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=_auth_headers(auth_header),
            verify=tls,
            proxy=proxy,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        # What rebuilds an equivalent client in another process (the inventory's page reader);
        # a custom transport or SSL context does not cross a process boundary.
        self._replica: dict[str, Any] | None = (
            None
            if transport is not None or isinstance(verify, ssl.SSLContext)
            else {"base_url": base_url, "auth_header": auth_header, "verify": verify, "client_cert": client_cert,
                  "client_key": client_key, "proxy": proxy, "timeout_s": timeout_s}
        )

    def __repr__(self) -> str:  # never show the auth header
        return f"NbiClient({self.base_url!r})"

    def replica_args(self) -> dict[str, Any] | None:
        """Keyword arguments that build an equivalent client in another process, or ``None`` when
        this one cannot be rebuilt there (custom transport or SSL context). They include the auth
        header: hand them to a child process only, never log them."""
        return dict(self._replica) if self._replica is not None else None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ plumbing
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_s: float | None = None,
        may_apply: bool = False,
        passthrough: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        try:
            resp = self._http.request(
                method,
                path,
                params=params,
                content=body,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=(
                    httpx.USE_CLIENT_DEFAULT
                    if timeout_s is None
                    else httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
                ),
            )
        except httpx.TimeoutException:
            raise NbiUnavailable(
                f"GenieACS NBI did not answer {method} {path} within {timeout_s or self.timeout_s:g}s",
                maybe_applied=may_apply,
            ) from None
        except httpx.TransportError as exc:
            sent = may_apply and not isinstance(exc, httpx.ConnectError)
            if _tls_failure(exc):
                raise NbiUnavailable(
                    f"TLS with the GenieACS NBI at {self.base_url} failed ({exc}): check GATEWARD_GENIEACS_CA_FILE "
                    "(the CA that signed the NBI's certificate) and the URL's host name",
                    maybe_applied=False,
                ) from None
            raise NbiUnavailable(
                f"GenieACS NBI at {self.base_url} gave no answer to {method} {path}: {type(exc).__name__}: {exc}",
                maybe_applied=sent,
            ) from None
        status = resp.status_code
        if status >= 500 and status not in passthrough:
            raise NbiUnavailable(
                f"GenieACS NBI failed {method} {path} with {status} {resp.reason_phrase}: {_snippet(resp)}",
                status=status,
                maybe_applied=may_apply,
            )
        if status in (401, 403):
            raise NbiAuthError(
                f"GenieACS NBI refused {method} {path} with {status}: check GATEWARD_GENIEACS_AUTH_HEADER",
                status=status,
            )
        return resp

    def _json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return resp.json()
        except (json.JSONDecodeError, ValueError):
            raise NbiRejected(f"GenieACS NBI answered {what} with a body that is not JSON: {_snippet(resp)}") from None

    # ------------------------------------------------------------------ collections
    def query(
        self,
        collection: str,
        query: Mapping[str, Any] | None = None,
        *,
        projection: Sequence[str] | None = None,
        limit: int | None = None,
        sort: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /<collection>/?query=…&projection=…`` (MongoDB query syntax)."""
        params: dict[str, str] = {}
        if query:
            params["query"] = json.dumps(query, separators=(",", ":"))
        if projection:
            params["projection"] = ",".join(projection)
        if limit is not None:
            params["limit"] = str(int(limit))
        if sort:
            params["sort"] = json.dumps(dict(sort))
        resp = self._request("GET", f"/{collection}/", params=params)
        if resp.status_code != 200:
            raise NbiRejected(
                f"GenieACS NBI rejected the {collection} query with {resp.status_code}: {_snippet(resp)}",
                status=resp.status_code,
            )
        items = self._json(resp, f"the {collection} query")
        if not isinstance(items, list):
            raise NbiRejected(f"GenieACS NBI answered the {collection} query with {type(items).__name__}, not a list")
        return [i for i in items if isinstance(i, dict)]

    def device(self, device_id: str, projection: Sequence[str] | None = None) -> dict[str, Any] | None:
        """One device document by id, or ``None`` if GenieACS does not know it."""
        proj = list(projection) if projection else None
        if proj is not None and "_id" not in proj:
            proj.insert(0, "_id")
        found = self.query("devices", {"_id": device_id}, projection=proj, limit=2)
        return found[0] if found else None

    def devices_by_serial(self, serial: str, projection: Sequence[str] = ("_id", "_deviceId")) -> list[dict[str, Any]]:
        return self.query("devices", {"_deviceId._SerialNumber": serial}, projection=projection)

    # ------------------------------------------------------------------ tasks
    def post_task(
        self,
        device_id: str,
        task: Mapping[str, Any],
        *,
        connection_request: bool = True,
        timeout_s: float = 10.0,
        session_budget_s: float = 30.0,
    ) -> TaskOutcome:
        """Queue ``task`` (validated first) and, with ``connection_request``, ask the CPE for a
        session now and wait up to ``timeout_s`` for it to start (the NBI's ``timeout``)."""
        validate_task(task)
        params = {"timeout": str(max(1, round(timeout_s * 1000)))}
        if connection_request:
            params["connection_request"] = ""
        body = json.dumps(task, separators=(",", ":"), allow_nan=False).encode()
        resp = self._request(
            "POST",
            f"/devices/{url_segment(device_id)}/tasks",
            params=params,
            body=body,
            timeout_s=timeout_s + session_budget_s,
            may_apply=True,
        )
        if resp.status_code == 404:
            raise NoSuchDevice(f"GenieACS has no device {device_id!r}", status=404)
        if resp.status_code not in (200, 202):
            raise NbiRejected(
                f"GenieACS NBI rejected the {task.get('name')} task with {resp.status_code}: {_snippet(resp)}",
                status=resp.status_code,
            )
        answer = self._json(resp, f"the {task.get('name')} task")
        return TaskOutcome(resp.status_code, resp.reason_phrase, answer if isinstance(answer, dict) else {})

    def connection_request(self, device_id: str, *, timeout_s: float = 10.0) -> str:
        """Only a connection request (a POST with no task): ``""`` when the CPE answered, else
        GenieACS's reason ("Device is offline", "Connection request error: …")."""
        resp = self._request(
            "POST",
            f"/devices/{url_segment(device_id)}/tasks",
            params={"connection_request": ""},
            timeout_s=timeout_s,
            passthrough=frozenset({504}),
        )
        if resp.status_code == 404:
            raise NoSuchDevice(f"GenieACS has no device {device_id!r}", status=404)
        if resp.status_code == 200:
            return ""
        return resp.reason_phrase or f"connection request failed with {resp.status_code}"

    def tasks(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.query("tasks", query)

    def delete_task(self, task_id: str) -> bool:
        """Delete a queued task (and its fault). False if it was already gone (done or deleted)."""
        resp = self._request("DELETE", f"/tasks/{url_segment(task_id)}")
        if resp.status_code == 404:
            return False
        if resp.status_code != 200:
            raise NbiRejected(
                f"GenieACS NBI refused to delete task {task_id}: {resp.status_code}", status=resp.status_code
            )
        return True

    def retry_task(self, task_id: str) -> None:
        resp = self._request("POST", f"/tasks/{url_segment(task_id)}/retry")
        if resp.status_code != 200:
            raise NbiRejected(
                f"GenieACS NBI refused to retry task {task_id}: {resp.status_code}", status=resp.status_code
            )

    # ------------------------------------------------------------------ faults
    def faults(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.query("faults", query)

    def fault(self, fault_id: str) -> dict[str, Any] | None:
        found = self.faults({"_id": fault_id})
        return found[0] if found else None

    def delete_fault(self, fault_id: str) -> None:
        """Clear a fault; for a ``task_`` fault GenieACS deletes the task with it."""
        resp = self._request("DELETE", f"/faults/{url_segment(fault_id)}")
        if resp.status_code not in (200, 404):
            raise NbiRejected(
                f"GenieACS NBI refused to delete fault {fault_id}: {resp.status_code}", status=resp.status_code
            )

    # ------------------------------------------------------------------ presets
    def put_preset(self, name: str, doc: Mapping[str, Any]) -> None:
        """Create or replace the preset ``name`` (GenieACS applies it from its next session)."""
        body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        resp = self._request("PUT", f"/presets/{url_segment(name)}", body=body)
        if resp.status_code != 200:
            raise NbiRejected(f"GenieACS NBI refused preset {name!r}: {resp.status_code} {resp.text.strip()[:200]}",
                              status=resp.status_code)

    def delete_preset(self, name: str) -> None:
        resp = self._request("DELETE", f"/presets/{url_segment(name)}")
        if resp.status_code not in (200, 404):
            raise NbiRejected(f"GenieACS NBI refused to delete preset {name!r}: {resp.status_code}",
                              status=resp.status_code)

    # ------------------------------------------------------------------ tags and files
    def add_tag(self, device_id: str, tag: str) -> None:
        resp = self._request("POST", f"/devices/{url_segment(device_id)}/tags/{url_segment(tag)}")
        if resp.status_code != 200:
            raise NbiRejected(f"GenieACS NBI refused tag {tag!r}: {resp.status_code}", status=resp.status_code)

    def remove_tag(self, device_id: str, tag: str) -> None:
        resp = self._request("DELETE", f"/devices/{url_segment(device_id)}/tags/{url_segment(tag)}")
        if resp.status_code not in (200, 404):
            raise NbiRejected(
                f"GenieACS NBI refused to remove tag {tag!r}: {resp.status_code}", status=resp.status_code
            )

    def files(self, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.query("files", query)


def _tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (an httpx transport error) is a failed TLS handshake: a certificate the
    configured CA does not vouch for, a host name it does not name, a protocol mismatch. Nothing
    was sent then: the handshake comes before the request."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _snippet(resp: httpx.Response, limit: int = 200) -> str:
    try:
        text = resp.text
    except Exception:  # a body that cannot be decoded says nothing useful
        return "<unreadable body>"
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "") if text else "<empty body>"


__all__ = [
    "REASON_FAULTED",
    "REASON_OFFLINE",
    "REASON_QUEUED",
    "NbiAuthError",
    "NbiClient",
    "NbiError",
    "NbiRejected",
    "NbiUnavailable",
    "NoSuchDevice",
    "TaskOutcome",
    "ssl_context",
]
