"""A local server speaking OPA's Data API, backed by the embedded engine.

Why: the OPA sidecar mode (``GATEWARD_OPA_URL``) must be exercised end to end — the real client
library, HTTP, timeouts, a server that is down or slow — on machines without an ``opa`` binary.
This server answers the way OPA's REST API does, so ``OpaServerEngine`` cannot tell it apart:

* ``POST /v1/data/{path}`` with ``{"input": ...}`` → 200 ``{"result": value}``, or 200 ``{}``
  when the document is undefined (OPA never answers 404 for an undefined path);
  a body without ``input`` adds OPA's ``warning`` (``api_usage_warning``);
* ``GET /v1/data/{path}`` → the same without input;
* a body that is not JSON (or not a JSON object) → 400
  ``{"code": "invalid_parameter", "message": "body contains malformed input document: ..."}``;
* an evaluation error → 500 ``{"code": "internal_error", "message": ...}``;
* ``GET /health`` → 200 ``{}``.

Run it with ``python -m testing.opa_server --port 8181``; in tests, ``OpaApiServer().start()``
serves from a background thread on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from policies.engine import EmbeddedRegoEngine
from policies.loader import clean_error

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INPUT_KEY_MISSING = {"code": "api_usage_warning", "message": "'input' key missing from the request"}


class _Undefined(Exception):
    pass


def _evaluate(engine: EmbeddedRegoEngine, segments: list[str], input_json: str | None) -> Any:
    """The value of ``data.<segments>``; raise ``_Undefined`` when there is none."""
    if segments and all(_IDENT.match(s) for s in segments):
        rule = "data." + ".".join(segments)
        try:
            return engine.evaluate(rule, input_json)
        except Exception as exc:
            text = str(exc)
            if "policy undefined" in text:
                raise _Undefined from exc
            if "not a valid rule path" not in text:
                raise
        # A package or data path rather than a rule: fall through to a query.
    query = "data" + "".join(f"[{orjson.dumps(s).decode()}]" for s in segments)
    values = engine.query(query, input_json)
    if not values:
        raise _Undefined
    return values[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without TCP_NODELAY the body waits for the
        # client's delayed ACK (~40 ms per request), as it would not with OPA.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the client left (a timed-out decision): OPA says nothing of it either
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _data(self, has_body: bool) -> None:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path[len("/v1/data") :].split("/") if s]
        params = parse_qs(parts.query)
        body = self._read_body() if has_body else b""
        input_json: str | None = None
        warning = None
        if body.strip():
            try:
                request = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                self._send(
                    400,
                    {
                        "code": "invalid_parameter",
                        "message": f"body contains malformed input document: {exc}",
                    },
                )
                return
            if not isinstance(request, dict):
                self._send(
                    400,
                    {
                        "code": "invalid_parameter",
                        "message": "body contains malformed input document: json: cannot unmarshal "
                        f"{type(request).__name__} into Go value of type types.DataRequestV1",
                    },
                )
                return
            if "input" in request:
                input_json = orjson.dumps(request["input"]).decode()
            else:
                warning = _INPUT_KEY_MISSING
        elif has_body:
            warning = _INPUT_KEY_MISSING
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        start = time.perf_counter_ns()
        response: dict[str, Any] = {}
        try:
            future = self.server.evaluator.submit(_evaluate, self.server.engine, segments, input_json)
            response["result"] = future.result()
        except _Undefined:
            pass
        except Exception as exc:
            self._send(500, {"code": "internal_error", "message": clean_error(exc)})
            return
        if warning:
            response["warning"] = warning
        if params.get("metrics", ["false"])[0].lower() == "true":
            response["metrics"] = {"timer_server_handler_ns": time.perf_counter_ns() - start}
        self._send(200, response)

    def _authorised(self) -> bool:
        """OPA's ``--authentication=token``: a request without the bearer token gets 401."""
        want = self.server.require_token
        if want is None or self.headers.get("Authorization") == f"Bearer {want}":
            return True
        if self.command == "POST":
            self._read_body()
        self._send(401, {"code": "unauthorized", "message": "authentication required"})
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        path = urlsplit(self.path).path
        if path == "/health":
            self._send(200, {})
        elif path == "/v1/data" or path.startswith("/v1/data/"):
            self._data(has_body=False)
        else:
            self._send(404, {"code": "resource_not_found", "message": f"{path} not found"})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        path = urlsplit(self.path).path
        if path == "/v1/data" or path.startswith("/v1/data/"):
            self._data(has_body=True)
        else:
            self._read_body()
            self._send(404, {"code": "resource_not_found", "message": f"{path} not found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, addr: tuple[str, int], engine: EmbeddedRegoEngine, delay_s: float, verbose: bool
    ) -> None:
        super().__init__(addr, _Handler)
        self.engine = engine
        self.delay_s = delay_s
        self.verbose = verbose
        self.require_token: str | None = None
        # One long-lived evaluator thread owns the regorus engine (regorus engines are bound to
        # the thread that built them); connection threads come and go and only wait on it.
        # regorus holds the GIL while it evaluates, so more evaluator threads would not add
        # throughput.
        self.evaluator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opa-eval")


class OpaApiServer:
    """The OPA Data API on ``host:port`` (port 0 = a free one), served from a thread.

    ``delay_s`` holds every data answer back that long: a slow OPA, for timeout tests.
    """

    def __init__(
        self,
        engine: EmbeddedRegoEngine | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay_s: float = 0.0,
        verbose: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        require_token: str | None = None,
    ) -> None:
        self.engine = engine or EmbeddedRegoEngine()
        self._httpd = _Server((host, port), self.engine, delay_s, verbose)
        self._httpd.require_token = require_token
        self.scheme = "http"
        if ssl_context is not None:  # OPA's --tls-cert-file/--tls-private-key-file
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"{self.scheme}://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    @property
    def delay_s(self) -> float:
        return self._httpd.delay_s

    @delay_s.setter
    def delay_s(self, value: float) -> None:
        self._httpd.delay_s = value

    def start(self) -> OpaApiServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="opa-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.evaluator.shutdown(wait=True)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> OpaApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testing.opa_server",
        description="Serve the Gateward policy pack over OPA's Data API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--rules-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    engine = EmbeddedRegoEngine(args.rules_dir, args.data_dir)
    server = OpaApiServer(engine, args.host, args.port, verbose=args.verbose)
    print(
        f"OPA Data API on {server.url} (revision {engine.revision[:12]}); POST /v1/data/gateward/decision",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
