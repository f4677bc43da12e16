"""Talking to the identity provider: one deadline for a whole exchange, and answers read with bounds.

Why a deadline of our own: httpx's timeout is per operation (connect, each read), so a provider that
answers a byte every few seconds never trips it — a dripping answer held a sign-in callback for 58 s
with a 10 s setting. Every request of one exchange with the provider (the callback's token, keys and
userinfo; a membership re-check's refresh and userinfo) runs under one :class:`Deadline`, whose
``GATEWARD_OIDC_TIMEOUT_S`` is the most the whole exchange may take.

Why bounds on what is read: the provider's answers are parsed JSON, and absurdly deep JSON made the
standard library's parser raise ``RecursionError`` — a 500. An answer is read up to
:data:`MAX_ANSWER_BYTES`, parsed by ``orjson`` (no recursion of Python's) and refused past
:data:`MAX_DEPTH` levels of nesting, as an answer that is not the JSON object it must be
(``provider_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import orjson

from api.auth.refusals import AuthRefused
from core.kernel.jsontypes import JsonObject

MAX_ANSWER_BYTES = 1 << 20  # a discovery document, a key set or a userinfo answer is a few KiB
MAX_DEPTH = 32  # OpenID Connect's documents nest 3 or 4 levels; claims a few more
TRY_AGAIN = "try again in a moment"


class Deadline:
    """The end of one exchange with the provider (``seconds`` from now, on the running loop)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = asyncio.get_running_loop().time() + seconds

    @contextlib.asynccontextmanager
    async def step(self, what: str, url: str) -> AsyncIterator[None]:
        """One request of the exchange: cut at the deadline, refused as ``provider_timeout``."""
        try:
            async with asyncio.timeout_at(self.at):
                yield
        except TimeoutError as exc:
            raise AuthRefused(f"the identity provider did not answer within {self.seconds:g} s for its {what} "
                              f"({url}); {TRY_AGAIN}", "provider_timeout", 503, what=what) from exc


def provider_failure(exc: Exception, what: str, url: str, timeout_s: float) -> AuthRefused:
    """The refusal for a request to the provider that failed in transport or in HTTP: down or
    unreachable (``provider_unreachable``), too slow (``provider_timeout``), or answering an HTTP
    error (``provider_error``). Both HTTP stacks count: ours (httpx) for discovery, JWKS and userinfo,
    Authlib's (httpx2) for the token endpoint."""
    if isinstance(exc, (httpx.TimeoutException, httpx2.TimeoutException)):
        return AuthRefused(f"the identity provider did not answer within {timeout_s:g} s for its {what} "
                           f"({url}); {TRY_AGAIN}", "provider_timeout", 503, what=what)
    if isinstance(exc, (httpx.HTTPStatusError, httpx2.HTTPStatusError)):
        return AuthRefused(f"the identity provider failed: it answered {exc.response.status_code} for its {what} "
                           f"({url}); {TRY_AGAIN}", "provider_error", 503, what=what,
                           provider_status=exc.response.status_code)
    return AuthRefused(f"the identity provider cannot be reached for its {what} ({url}: {type(exc).__name__}); "
                       f"{TRY_AGAIN}", "provider_unreachable", 503, what=what)


def depth_of(doc: Any) -> int:
    """How deeply ``doc`` nests (a scalar: 0), without recursion."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        todo.extend((c, level + 1) for c in children)
    return deepest


def json_object(body: bytes, what: str, url: str) -> JsonObject:
    """The provider's answer as a JSON object of at most :data:`MAX_DEPTH` levels, else
    ``provider_error`` (a fault on its side)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and depth_of(doc) > MAX_DEPTH:
        raise AuthRefused(f"the identity provider's {what} at {url} nests deeper than {MAX_DEPTH} levels "
                          f"(a fault on its side); {TRY_AGAIN}", "provider_error", 503, what=what)
    if not isinstance(doc, dict):
        raise AuthRefused(f"the identity provider's {what} at {url} is not a JSON object (a fault on its side); "
                          f"{TRY_AGAIN}", "provider_error", 503, what=what)
    return doc


async def get_json(url: str, what: str, deadline: Deadline, timeout_s: float, **kw: Any) -> JsonObject:
    """GET ``url`` (discovery, keys, userinfo): a JSON object read within the deadline and the bounds."""
    async with deadline.step(what, url):
        try:
            async with httpx.AsyncClient(timeout=timeout_s) as c, c.stream("GET", url, **kw) as resp:
                if resp.status_code != 200:
                    raise AuthRefused(f"the identity provider failed: it answered {resp.status_code} for its {what} "
                                      f"({url}); {TRY_AGAIN}", "provider_error", 503, what=what,
                                      provider_status=resp.status_code)
                body = await read_capped(resp.aiter_bytes(), what, url)
        except httpx.HTTPError as exc:
            raise provider_failure(exc, what, url, timeout_s) from exc
    return json_object(body, what, url)


async def read_capped(chunks: AsyncIterator[bytes], what: str, url: str) -> bytes:
    """The body, refused past :data:`MAX_ANSWER_BYTES`."""
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) > MAX_ANSWER_BYTES:
            raise AuthRefused(f"the identity provider's {what} at {url} is larger than {MAX_ANSWER_BYTES >> 10} KiB "
                              f"(a fault on its side); {TRY_AGAIN}", "provider_error", 503, what=what)
    return bytes(out)


def checked_token_answer(what: str) -> Any:
    """An Authlib compliance hook for the token endpoint's answer (the exchange, a refresh): a body
    that is not a bounded JSON object is refused before Authlib parses it with the standard library
    (whose parser raised ``RecursionError`` on deep nesting)."""

    def hook(resp: Any) -> Any:
        url = str(resp.request.url) if getattr(resp, "request", None) is not None else "the token endpoint"
        if resp.status_code >= 500:  # its failure is the fact to tell, whatever its body (an HTML error page)
            raise AuthRefused(f"the identity provider failed: it answered {resp.status_code} for its {what} "
                              f"({url}); {TRY_AGAIN}", "provider_error", 503, what=what,
                              provider_status=resp.status_code)
        if len(resp.content) > MAX_ANSWER_BYTES:
            raise AuthRefused(f"the identity provider's {what} answer is larger than {MAX_ANSWER_BYTES >> 10} KiB; "
                              f"{TRY_AGAIN}", "provider_error", 503, what=what)
        try:
            doc = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise AuthRefused(f"the identity provider's {what} answer at {url} is not JSON (HTTP {resp.status_code}; "
                              f"a fault on its side); {TRY_AGAIN}", "provider_error", 503, what=what,
                              provider_status=resp.status_code) from exc
        if depth_of(doc) > MAX_DEPTH:
            raise AuthRefused(f"the identity provider's {what} answer at {url} nests deeper than {MAX_DEPTH} "
                              f"levels (a fault on its side); {TRY_AGAIN}", "provider_error", 503, what=what)
        return resp

    return hook
