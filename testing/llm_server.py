"""A local OpenAI-compatible server that replays a script: the LLM path, tested for real.

Why a server and not a mock: the planner's model path is only trustworthy if the real ``openai``
client — its request building, retries, timeouts, error mapping and response parsing — is in
the loop. This speaks the Chat Completions wire format over HTTP on 127.0.0.1
(``POST /v1/chat/completions``, bearer auth, ``tool_calls``, ``usage``, OpenAI-shaped error
bodies) and answers from a script, step by step:

* ``{"tool_calls": [{"name": "history", "arguments": {...}}]}`` — arguments may be an object or a
  raw string (to send invalid JSON on purpose);
* ``{"content": "..."}`` — a plain assistant message;
* ``{"status": 500, "message": "..."}`` — an HTTP error (``429`` carries ``retry-after-ms``);
  ``"repeat": true`` keeps serving it (an endpoint that stays down);
* ``{"delay_s": 2.0, ...}`` — answer late (longer than the client's timeout = a timeout).

A request that breaks the tool-reply rule (an assistant ``tool_calls`` id without its ``tool``
message before the next message or the end, or a ``tool`` message answering no call) is answered 400 with
the real API's words, as a real endpoint would (:func:`tool_reply_problem`); it does not advance
the script.

Every request is recorded (``requests``) so tests can check what the model was shown — e.g. that
a hostile SSID only ever appeared inside an untrusted block. Each served step advances the
cursor, including errors, so "500 then success" is two steps and exercises the client's retry.
A script that runs out answers 500 ("script exhausted"), which the planner treats as an endpoint
failure.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = dict[str, Any]


class FakeOpenAIServer:
    def __init__(self, script: list[Step] | None = None, *, api_key: str = "sk-fake-gateward",
                 model: str = "gpt-4o-mini") -> None:
        self.api_key = api_key
        self.model = model
        self._lock = threading.Lock()
        self._script: list[Step] = list(script or [])
        self._cursor = 0
        self.requests: list[dict[str, Any]] = []
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def load(self, script: list[Step]) -> None:
        with self._lock:
            self._script = list(script)
            self._cursor = 0
            self.requests = []

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def remaining(self) -> int:
        with self._lock:
            return max(0, len(self._script) - self._cursor)

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                server._handle(self)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    server._send(self, 200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    server._send(self, 404, _error("not found", "invalid_request_error"))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # ------------------------------------------------------------------ protocol
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def _next(self) -> Step | None:
        with self._lock:
            if self._cursor >= len(self._script):
                return None
            step = self._script[self._cursor]
            if not step.get("repeat"):
                self._cursor += 1
            return step

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if not h.path.rstrip("/").endswith("/chat/completions"):
            self._send(h, 404, _error(f"unknown path {h.path}", "invalid_request_error"))
            return
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(h, 401, _error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"))
            return
        try:
            req = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(h, 400, _error("request body is not JSON", "invalid_request_error"))
            return
        if not isinstance(req.get("messages"), list) or not req.get("model"):
            self._send(h, 400, _error("'messages' and 'model' are required", "invalid_request_error"))
            return
        with self._lock:
            self.requests.append(req)
        problem = tool_reply_problem(req["messages"])
        if problem is not None:  # what a real endpoint does with a malformed conversation
            self._send(h, 400, _error(problem, "invalid_request_error", "invalid_request"))
            return
        step = self._next()
        if step is None:
            self._send(h, 500, _error("fake server: script exhausted", "server_error"))
            return
        if step.get("delay_s"):
            time.sleep(float(step["delay_s"]))
        if "status" in step:
            status = int(step["status"])
            headers = {"retry-after-ms": "10"} if status == 429 else {}
            kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
            self._send(h, status, _error(str(step.get("message", f"scripted HTTP {status}")), kind), headers)
            return
        self._send(h, 200, self._completion(req, step))

    def _completion(self, req: dict[str, Any], step: Step) -> dict[str, Any]:
        with self._lock:
            self._counter += 1
            n = self._counter
        message: dict[str, Any] = {"role": "assistant", "content": step.get("content"), "refusal": None}
        finish = "stop"
        if step.get("tool_calls"):
            calls = []
            for i, tc in enumerate(step["tool_calls"]):
                args = tc.get("arguments", {})
                calls.append({"id": f"call_{n}_{i}", "type": "function",
                              "function": {"name": tc["name"],
                                           "arguments": args if isinstance(args, str) else json.dumps(args)}})
            message["tool_calls"] = calls
            finish = "tool_calls"
        prompt_tokens = math.ceil(len(json.dumps(req.get("messages", []))) / 4)
        completion_tokens = max(1, math.ceil(len(json.dumps(message)) / 4))
        return {
            "id": f"chatcmpl-fake-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": req.get("model", self.model), "system_fingerprint": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


def tool_reply_problem(messages: list[Any]) -> str | None:
    """The rule a real Chat Completions API enforces: an assistant message with ``tool_calls`` must
    be followed by one ``tool`` message per call id before any other message, and a ``tool``
    message must answer a call of the assistant message before it. The message text is the API's."""
    open_ids: list[str] = []
    known: set[str] = set()
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            cid = str(m.get("tool_call_id") or "")
            if cid not in known:
                return ("Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                        "with 'tool_calls'.")
            if cid in open_ids:
                open_ids.remove(cid)
            continue
        if open_ids:
            return ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(open_ids)}")
        known = set()
        if role == "assistant" and m.get("tool_calls"):
            open_ids = [str(tc.get("id")) for tc in m["tool_calls"]]
            known = set(open_ids)
    if open_ids:  # the conversation ends with calls still unanswered: rejected the same way
        return ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(open_ids)}")
    return None


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@contextmanager
def running(script: list[Step] | None = None, **kw: Any) -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(script, **kw).start()
    try:
        yield srv
    finally:
        srv.stop()
