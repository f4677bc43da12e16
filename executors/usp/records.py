"""USP Records and Messages: building them and taking them apart, with clear errors on bad bytes.

A USP Record (``usp_record.Record``) is the envelope an MTP carries: ``version``, ``to_id``,
``from_id`` and one record type. Requests, responses and notifications travel as a serialized
``usp.Msg`` inside a ``no_session_context`` Record; ``mqtt_connect`` and ``disconnect`` Records carry
no Message. Everything here is pure (no I/O) and shared by the controller and the agent simulator.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from executors.usp.proto import msg_pb, record_pb

#: What we put in ``Record.version``; agents in the field commonly send "1.3".
USP_VERSION = "1.3"
SUPPORTED_VERSIONS = "1.0,1.1,1.2,1.3,1.4"

Msg = msg_pb.Msg
Header = msg_pb.Header
Record = record_pb.Record

RESPONSE_OF: dict[int, int] = {
    Header.GET: Header.GET_RESP,
    Header.SET: Header.SET_RESP,
    Header.ADD: Header.ADD_RESP,
    Header.DELETE: Header.DELETE_RESP,
    Header.OPERATE: Header.OPERATE_RESP,
    Header.NOTIFY: Header.NOTIFY_RESP,
    Header.GET_SUPPORTED_DM: Header.GET_SUPPORTED_DM_RESP,
    Header.GET_INSTANCES: Header.GET_INSTANCES_RESP,
    Header.GET_SUPPORTED_PROTO: Header.GET_SUPPORTED_PROTO_RESP,
    Header.REGISTER: Header.REGISTER_RESP,
    Header.DEREGISTER: Header.DEREGISTER_RESP,
}

_prefix = os.urandom(3).hex()
_counter = itertools.count(1)


def new_msg_id(tag: str = "gw") -> str:
    """A msg_id unique to this process run (a restarted controller never reuses an old one)."""
    return f"{tag}-{_prefix}-{next(_counter)}"


class MalformedRecord(ValueError):
    """Bytes that are not a usable USP Record (TR-369: such a Record is dropped, not answered)."""


@dataclass(slots=True)
class Decoded:
    """A parsed Record: ``kind`` is the record type (``no_session_context``, ``mqtt_connect``,
    ``disconnect``, ...); ``msg`` is the Message of a ``no_session_context`` Record and ``body``
    which of ``request``/``response``/``error`` it carries. The ids are read once here (every
    access is a call into protobuf that makes a new string): the Record's ``to_id``/``from_id``
    and the Message's ``msg_id``."""

    record: record_pb.Record
    kind: str
    msg: msg_pb.Msg | None = None
    body: str = ""
    to_id: str = ""
    from_id: str = ""
    msg_id: str = ""

    @property
    def msg_type(self) -> int:
        return self.msg.header.msg_type if self.msg is not None else -1


_PLAINTEXT = int(record_pb.Record.PLAINTEXT)


def decode(payload: bytes) -> Decoded:
    """Parse a Record (and its Message). Raises :class:`MalformedRecord` saying what is wrong."""
    record = record_pb.Record()
    try:
        record.ParseFromString(payload)
    except (DecodeError, ValueError) as exc:
        raise MalformedRecord(f"not a USP Record ({len(payload)} bytes): {exc}") from None
    kind = record.WhichOneof("record_type")
    if kind is None:
        raise MalformedRecord(f"USP Record without a record type ({len(payload)} bytes)")
    to_id = record.to_id
    from_id = record.from_id
    if not to_id or not from_id:
        raise MalformedRecord("USP Record without to_id/from_id")
    if kind != "no_session_context":
        return Decoded(record, kind, None, "", to_id, from_id)
    if record.payload_security != _PLAINTEXT:
        raise MalformedRecord("USP Record with TLS payload security (end-to-end security is not supported)")
    msg = msg_pb.Msg()
    try:
        msg.ParseFromString(record.no_session_context.payload)
    except (DecodeError, ValueError) as exc:
        raise MalformedRecord(f"USP Record from {from_id!r} holds no valid Message: {exc}") from None
    msg_id = msg.header.msg_id
    if not msg_id:
        raise MalformedRecord(f"USP Message from {from_id!r} has no msg_id")
    body = msg.body.WhichOneof("msg_body")
    if body is None:
        raise MalformedRecord(f"USP Message {msg_id!r} from {from_id!r} has no body")
    return Decoded(record, kind, msg, body, to_id, from_id, msg_id)


# ------------------------------------------------------------------------------- Records


_SMALL = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(tag: bytes, value: str) -> bytes:
    """A proto3 string field (omitted when empty, as protobuf itself does)."""
    if not value:
        return b""
    data = value.encode()
    return tag + _varint(len(data)) + data


#: :func:`peek_answer`'s body tags: Body.response = 2, Body.error = 3
RESPONSE_TAG = 0x12
ERROR_TAG = 0x1A


def addressed_to(to_id: str) -> tuple[bytes, ...]:
    """What :func:`peek_answer` looks for at the start of a Record: a version it reads (``1.0`` to
    ``1.9``, each valid UTF-8 and as long as the others), the ``to_id`` field, and the ``from_id``
    field's tag — all of equal length (none matches for an endpoint ID of 128 bytes or more)."""
    data = to_id.encode()
    if not 0 < len(data) < 0x80:
        return (b"\xff",)  # no Record starts so (field 31, wire type 7)
    return tuple(_text(b"\x0a", f"1.{i}") + b"\x12" + _SMALL[len(data)] + data + b"\x1a" for i in range(10))


#: An answer found by :func:`peek_answer`: (from_id, msg_id, body tag, where the Message starts,
#: where the serialized SetResp starts when the body is a Response holding one, else 0).
Answer = tuple[str, str, int, int, int]


def peek_answer(buf: bytes, to: tuple[bytes, ...]) -> Answer | None:
    """A ``no_session_context`` Record ``buf`` addressed as ``to`` says (:func:`addressed_to`) whose
    Message is a response or an Error, laid out as protobuf writes it — each field once, in field
    order, none other, lengths under 16 KiB: its from_id, msg_id, body tag (:data:`RESPONSE_TAG` or
    :data:`ERROR_TAG`), where the Message starts (it ends with the Record) and where its SetResp
    starts (0: it holds no SetResp). None for anything else — another record type, version or addressee, a
    request, an unusual encoding, bad UTF-8 — which :func:`decode` then handles as always. This reads
    only the envelope: the caller parses the Message (or the SetResp) with protobuf, so a malformed
    body is still found malformed.

    Why: the controller receives one answer per request, and building the Record object to read three
    strings from it, then the Message's header and body kind, was a sixth of its CPU per Set; the
    lengths are read inline (a function call costs as much as the reading), from a Record of its own
    (offsets under 256 are integers Python does not allocate)."""
    end = len(buf)
    if end >= 0x4000 or not buf.startswith(to):  # then every length fits two bytes (a longer one read
        return None  # as two is 16 KiB or more: too long to fit, so refused below)
    try:
        p = len(to[0])  # Record.version, Record.to_id, then from_id
        n = buf[p]
        q = p + 1 + n
        if not n or n >= 0x80 or buf[q] != 0x3A:  # Record.no_session_context, the last field
            return None
        from_id = buf[p + 1 : q].decode()
        n = buf[q + 1]  # its length, then NoSessionContextRecord.payload, its only field
        if n < 0x80:
            p = q + 2
        else:
            p = q + 3
            n = (n & 0x7F) | (buf[q + 2] << 7)
        if p + n != end or buf[p] != 0x12:
            return None
        n = buf[p + 1]  # the Message's length, then Msg.header and Header.msg_id
        if n < 0x80:
            start = p + 2
        else:
            start = p + 3
            n = (n & 0x7F) | (buf[p + 2] << 7)
        hl = buf[start + 1]
        n2 = buf[start + 3]
        q = start + 4 + n2
        body = start + 2 + hl  # where Msg.body starts
        if (start + n != end or buf[start] != 0x0A or buf[start + 2] != 0x0A or not n2 or n2 >= 0x80
                or hl >= 0x80 or (q != body and (q + 2 != body or buf[q] != 0x10 or buf[q + 1] >= 0x80))
                or buf[body] != 0x12):  # (Header.msg_type, when there is one, is a byte; Msg.body last)
            return None
        msg_id = buf[start + 4 : q].decode()
        n = buf[body + 1]
        if n < 0x80:
            p = body + 2
        else:
            p = body + 3
            n = (n & 0x7F) | (buf[body + 2] << 7)
        tag = buf[p]  # the body's only field: a Response or an Error (a oneof's last member would win)
        if p + n != end or (tag != RESPONSE_TAG and tag != ERROR_TAG):
            return None
        n = buf[p + 1]
        if n < 0x80:
            p += 2
        else:
            n = (n & 0x7F) | (buf[p + 2] << 7)
            p += 3
        if p + n != end:
            return None
        if tag == RESPONSE_TAG and buf[p] == 0x22:  # Response.set_resp = 4: the only field?
            n = buf[p + 1]
            if n < 0x80:
                q = p + 2
            else:
                n = (n & 0x7F) | (buf[p + 2] << 7)
                q = p + 3
            if q + n == end:
                return from_id, msg_id, tag, start, q
        return from_id, msg_id, tag, start, 0
    except (IndexError, UnicodeDecodeError):
        return None


def _fit(rest: int, frame: Callable[[int], bytes]) -> bytes:
    """The bytes ``frame(n)`` puts before ``n`` bytes so that both take ``rest`` bytes in all (b"" when
    no ``n`` does): a canonical envelope's head, found from how long the whole is."""
    for k in range(3, 12):
        head = frame(rest - k)
        if rest - k >= 0 and len(head) == k:
            return head
    return b""


def _session_head(m: int) -> bytes:
    """Record.no_session_context's tag and length, then its payload field's, before a Message of ``m`` bytes."""
    inner = b"\x12" + _varint(m)
    return b"\x3a" + _varint(len(inner) + m) + inner


def _set_resp_tail(s: int) -> bytes:
    """Header.msg_type SET_RESP, Msg.body, Body.response and Response.set_resp before a SetResp of ``s`` bytes."""
    resp = b"\x22" + _varint(s)
    body = b"\x12" + _varint(len(resp) + s) + resp
    return b"\x10\x05\x12" + _varint(len(body) + s) + body


#: rest -> _fit(rest, ...): a fan-out's answers come in a few lengths (bounded: rest < 16 KiB)
_SESSION_HEADS: dict[int, bytes] = {}
_SET_RESP_TAILS: dict[int, bytes] = {}
#: a Message's header before a msg_id of n bytes (0 < n < 120), with a one-byte msg_type after it
_HEADERS = [b""] + [b"\x0a" + _SMALL[n + 4] + b"\x0a" + _SMALL[n] for n in range(1, 120)]


def peek_set_answer(buf: bytes, p: int, end: int) -> tuple[str, int, int] | None:
    """What :func:`peek_answer` finds in a SetResp answer, from where the Record's from_id ends (``p``;
    the Record ends at ``end``): (msg_id, where the Message starts, where its SetResp starts) — for the
    layout protobuf writes, each length checked against ``end``; None for anything else (then
    :func:`peek_answer` reads the Record). Why: a receiver that knows the sender's envelope from its
    earlier answers (the controller, per agent) reads a fan-out's answers with a few comparisons; the
    heads and tails around the msg_id depend only on lengths, and are kept per length."""
    rest = end - p
    if rest >= 0x4000:
        return None
    try:
        head = _SESSION_HEADS.get(rest)
        if head is None:
            head = _SESSION_HEADS[rest] = _fit(rest, _session_head)
        start = p + len(head)
        n = buf[start + 3]
        q = start + 4 + n
        if not head or not buf.startswith(head, p) or not 0 < n < 120 or not buf.startswith(_HEADERS[n], start):
            return None
        msg_id = buf[start + 4 : q].decode()
        tail = _SET_RESP_TAILS.get(end - q)
        if tail is None:
            tail = _SET_RESP_TAILS[end - q] = _fit(end - q, _set_resp_tail)
        if not tail or not buf.startswith(tail, q):
            return None
        return msg_id, start, q + len(tail)
    except (IndexError, UnicodeDecodeError):
        return None


class _LastField:
    """A proto3 string field whose encoding is kept for the last value seen.

    Why: one side of every Record repeats — the controller's ``from_id``, every simulated agent's
    ``to_id``, the version — and encoding it again was a fifth of wrapping a NotifyResp."""

    __slots__ = ("_last", "_tag")

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._last: tuple[str, bytes] = ("", b"")

    def __call__(self, value: str) -> bytes:
        last = self._last  # one read: another thread may replace it (never half of it)
        if last[0] == value:
            return last[1]
        encoded = _text(self._tag, value)
        self._last = (value, encoded)
        return encoded


class _KeptFields:
    """A proto3 string field's encoding kept per value, for as many values as a fan-out addresses.

    Why: a controller's Records go to every agent in turn, so the last value seen (:class:`_LastField`)
    never matches the next ``to_id``; a dict of strings and bytes is one lookup and no work for the
    cyclic garbage collector."""

    __slots__ = ("_kept", "_tag")

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._kept: dict[str, bytes] = {}

    def __call__(self, value: str) -> bytes:
        encoded = self._kept.get(value)
        if encoded is None:
            encoded = _text(self._tag, value)
            if len(self._kept) >= 20000:  # one per agent addressed; bounded all the same
                self._kept.clear()
            self._kept[value] = encoded
        return encoded


_version_field, _to_field, _from_field = _LastField(b"\x0a"), _KeptFields(b"\x12"), _LastField(b"\x1a")


def wrap_payload(payload: bytes, *, to_id: str, from_id: str, version: str = USP_VERSION) -> bytes:
    """A ``no_session_context`` Record around a serialized Message: the bytes protobuf writes
    (``tests/usp/test_records.py`` checks), about half the cost of building a Record object —
    every request and every NotifyResp is wrapped."""
    n = len(payload)
    if not n:
        inner_len = b"\x00"
        inner = b""
    elif n < 0x7E:  # the whole inner message is under 128 bytes: both lengths are one byte
        inner_len = _SMALL[n + 2]
        inner = b"\x12" + _SMALL[n] + payload  # NoSessionContextRecord.payload = 2
    else:
        inner = b"\x12" + _varint(n) + payload
        inner_len = _varint(len(inner))
    # Record.version 1, to_id 2, from_id 3, no_session_context 7
    return b"".join((_version_field(version), _to_field(to_id), _from_field(from_id), b"\x3a", inner_len, inner))


def record_head(*, to_id: str, from_id: str, version: str = USP_VERSION) -> bytes:
    """The first bytes of every ``no_session_context`` Record between two endpoints — version, to_id,
    from_id and the record type's tag — so that ``record_head(...) + session_prefix(len(payload)) +
    payload == wrap_payload(payload, ...)``. Why: a sender that keeps it per destination (the
    controller, per agent it asks) wraps a Message with one join and no lookups."""
    return b"".join((_text(b"\x0a", version), _text(b"\x12", to_id), _text(b"\x1a", from_id), b"\x3a"))


#: ``session_prefix(n)`` for n < 0x7E (both lengths one byte), to be indexed where a call costs too much
SESSION_PREFIXES = [b"\x00"] + [_SMALL[n + 2] + b"\x12" + _SMALL[n] for n in range(1, 0x7E)]


def session_prefix(n: int) -> bytes:
    """What comes between :func:`record_head` and a serialized Message of ``n`` bytes: the
    NoSessionContextRecord's length, then its ``payload`` field's tag and length."""
    if n < 0x7E:
        return SESSION_PREFIXES[n]
    inner = b"\x12" + _varint(n)  # NoSessionContextRecord.payload = 2
    return _varint(len(inner) + n) + inner


def wrap(msg: msg_pb.Msg, *, to_id: str, from_id: str, version: str = USP_VERSION) -> bytes:
    return wrap_payload(msg.SerializeToString(), to_id=to_id, from_id=from_id, version=version)


def mqtt_connect_record(*, to_id: str, from_id: str, subscribed_topic: str, mqtt_version: int = 5) -> bytes:
    """The ``mqtt_connect`` Record, written directly (every simulated agent sends one per connect;
    ``tests/usp/test_records.py`` checks the bytes against protobuf's)."""
    inner = (b"\x08\x01" if mqtt_version == 5 else b"") + _text(b"\x12", subscribed_topic)  # version 1, topic 2
    # Record.version 1, to_id 2, from_id 3, mqtt_connect 10 (present even when empty: a oneof)
    return b"".join((_version_field(USP_VERSION), _to_field(to_id), _from_field(from_id), b"\x52",
                     _varint(len(inner)), inner))


def websocket_connect_record(*, to_id: str, from_id: str) -> bytes:
    """The ``websocket_connect`` Record (USP 1.3): what an agent sends first on a new WebSocket."""
    record = record_pb.Record(version=USP_VERSION, to_id=to_id, from_id=from_id)
    record.websocket_connect.SetInParent()
    out: bytes = record.SerializeToString()
    return out


def disconnect_record(*, to_id: str, from_id: str, reason: str, reason_code: int = 0) -> bytes:
    """The ``disconnect`` Record (written directly, like :func:`mqtt_connect_record`)."""
    inner = _text(b"\x0a", reason) + (b"\x15" + reason_code.to_bytes(4, "little") if reason_code else b"")
    # DisconnectRecord.reason 1, reason_code 2 (fixed32); Record.disconnect 12
    return b"".join((_version_field(USP_VERSION), _to_field(to_id), _from_field(from_id), b"\x62",
                     _varint(len(inner)), inner))


# ------------------------------------------------------------------------------- Messages


def usp_value(value: object) -> str:
    """A value as USP carries it: booleans are ``true``/``false``, everything else its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_param(path: str) -> tuple[str, str]:
    """``Device.WiFi.Radio.1.Channel`` → (``Device.WiFi.Radio.1.``, ``Channel``)."""
    idx = path.rfind(".")
    if idx <= 0 or idx == len(path) - 1:
        raise ValueError(f"{path!r} is not a parameter path")
    return path[: idx + 1], path[idx + 1 :]


def _msg(msg_id: str, msg_type: int) -> msg_pb.Msg:
    msg = msg_pb.Msg()
    msg.header.msg_id = msg_id
    msg.header.msg_type = msg_type  # type: ignore[assignment]
    return msg


def get(msg_id: str, paths: Iterable[str], max_depth: int = 0) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.GET)
    req = msg.body.request.get
    req.param_paths.extend(paths)
    req.max_depth = max_depth
    return msg


def set_(
    msg_id: str,
    values: Mapping[str, object],
    *,
    allow_partial: bool = False,
    required: bool = True,
) -> msg_pb.Msg:
    """A Set of full parameter paths, grouped into one UpdateObject per object."""
    msg = _msg(msg_id, Header.SET)
    req = msg.body.request.set
    req.allow_partial = allow_partial
    by_obj: dict[str, msg_pb.Set.UpdateObject] = {}
    for path, value in values.items():
        obj, param = split_param(path)
        upd = by_obj.get(obj)
        if upd is None:
            upd = req.update_objs.add(obj_path=obj)
            by_obj[obj] = upd
        upd.param_settings.add(param=param, value=usp_value(value), required=required)
    return msg


def set_payload(
    msg_id: str,
    values: Mapping[str, object],
    *,
    allow_partial: bool = False,
    required: bool = True,
) -> bytes:
    """``set_(...).SerializeToString()``, written directly (a fan-out sends thousands per second);
    ``tests/usp/test_records.py`` checks the bytes against protobuf's.

    A Set of one parameter with the default flags — what a fan-out sends — is laid out from a
    template kept per path and value length: every byte between the msg_id and the value depends
    only on those, so a Set costs two encodes and one join (a quarter of encoding it field by field)."""
    if len(values) == 1 and required and not allow_partial:
        ((path, value),) = values.items()
        v = (value if type(value) is str else usp_value(value)).encode()
        m = msg_id.encode()
        vl = len(v)
        middle = _SET_MIDDLES.get((path, vl))
        if middle is None and 0 < vl < 128:
            middle = _set_middle(path, vl)
        if middle and 0 < len(m) < 120:
            return b"".join((_MSG_ID_HEADS[len(m)], m, middle, v, b"\x18\x01"))
    return _set_payload(msg_id, values, allow_partial=allow_partial, required=required)


def set_request(values: Mapping[str, object], allow_partial: bool = False) -> tuple[str, bytes]:
    """(:func:`new_msg_id`, :func:`set_payload` of ``values`` under it) in one call — what
    ``UspController.set`` sends; a fan-out's one-parameter Set takes :func:`set_payload`'s template
    inline (a function call costs as much as the template's lookup and join)."""
    msg_id = f"gw-{_prefix}-{next(_counter)}"
    if len(values) == 1 and not allow_partial:
        ((path, value),) = values.items()
        v = (value if type(value) is str else usp_value(value)).encode()
        m = msg_id.encode()
        vl = len(v)
        middle = _SET_MIDDLES.get((path, vl))
        if middle is None and 0 < vl < 128:
            middle = _set_middle(path, vl)
        if middle and len(m) < 120:
            return msg_id, b"".join((_MSG_ID_HEADS[len(m)], m, middle, v, b"\x18\x01"))
    return msg_id, _set_payload(msg_id, values, allow_partial=allow_partial, required=True)


#: the Message's first bytes before a msg_id of n bytes (0 < n < 120): Msg.header, Header.msg_id
_MSG_ID_HEADS = [b""] + [b"\x0a" + _SMALL[n + 4] + b"\x0a" + _SMALL[n] for n in range(1, 120)]
#: (path, value length) -> the bytes of a one-parameter Set between its msg_id and its value
_SET_MIDDLES: dict[tuple[str, int], bytes] = {}


def _set_middle(path: str, value_len: int) -> bytes:
    """The template of :func:`set_payload`, cut out of what :func:`_set_payload` writes for a
    one-byte msg_id and a value of ``value_len`` bytes (so both write the same bytes by
    construction). ``b""`` when ``path`` is not a parameter path: the general encoder says why."""
    try:
        whole = _set_payload("m", {path: "\x00" * value_len})
    except ValueError:
        return b""
    middle = whole[len(_MSG_ID_HEADS[1]) + 1 : len(whole) - value_len - 2]
    if len(_SET_MIDDLES) >= 4096:  # a few paths and lengths in practice; bounded all the same
        _SET_MIDDLES.clear()
    _SET_MIDDLES[path, value_len] = middle
    return middle


def _set_payload(
    msg_id: str,
    values: Mapping[str, object],
    *,
    allow_partial: bool = False,
    required: bool = True,
) -> bytes:
    """:func:`set_payload` for any Set, field by field."""
    by_obj: dict[str, list[bytes]] = {}
    for path, value in values.items():
        obj, param = split_param(path)
        setting = _text(b"\x0a", param) + _text(b"\x12", usp_value(value)) + (b"\x18\x01" if required else b"")
        entry = b"\x12" + _varint(len(setting)) + setting  # UpdateObject.param_settings = 2
        by_obj.setdefault(obj, []).append(entry)
    parts = [b"\x08\x01"] if allow_partial else []  # Set.allow_partial = 1
    for obj, entries in by_obj.items():
        update = _text(b"\x0a", obj) + b"".join(entries)  # UpdateObject.obj_path = 1
        parts.append(b"\x12" + _varint(len(update)) + update)  # Set.update_objs = 2
    set_msg = b"".join(parts)
    request = b"\x22" + _varint(len(set_msg)) + set_msg  # Request.set = 4
    body = b"\x0a" + _varint(len(request)) + request  # Body.request = 1
    header = _text(b"\x0a", msg_id) + b"\x10\x04"  # Header.msg_id = 1, msg_type = 2 (SET = 4)
    return b"\x0a" + _varint(len(header)) + header + b"\x12" + _varint(len(body)) + body


def add(msg_id: str, obj_path: str, params: Mapping[str, object], *, allow_partial: bool = False) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.ADD)
    req = msg.body.request.add
    req.allow_partial = allow_partial
    obj = req.create_objs.add(obj_path=obj_path)
    for name, value in params.items():
        obj.param_settings.add(param=name, value=usp_value(value), required=True)
    return msg


def delete(msg_id: str, obj_paths: Iterable[str], *, allow_partial: bool = False) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.DELETE)
    req = msg.body.request.delete
    req.allow_partial = allow_partial
    req.obj_paths.extend(obj_paths)
    return msg


def operate(
    msg_id: str, command: str, *, command_key: str = "", args: Mapping[str, object] | None = None,
    send_resp: bool = True,
) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.OPERATE)
    req = msg.body.request.operate
    req.command = command
    req.command_key = command_key
    req.send_resp = send_resp
    for k, v in (args or {}).items():
        req.input_args[k] = usp_value(v)
    return msg


def get_supported_dm(
    msg_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False, commands: bool = True,
    events: bool = True, params: bool = True,
) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.GET_SUPPORTED_DM)
    req = msg.body.request.get_supported_dm
    req.obj_paths.extend(obj_paths)
    req.first_level_only = first_level_only
    req.return_commands = commands
    req.return_events = events
    req.return_params = params
    return msg


def get_instances(msg_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.GET_INSTANCES)
    req = msg.body.request.get_instances
    req.obj_paths.extend(obj_paths)
    req.first_level_only = first_level_only
    return msg


def get_supported_protocol(msg_id: str, versions: str = SUPPORTED_VERSIONS) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.GET_SUPPORTED_PROTO)
    msg.body.request.get_supported_protocol.controller_supported_protocol_versions = versions
    return msg


def notify_resp(msg_id: str, subscription_id: str) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.NOTIFY_RESP)
    msg.body.response.notify_resp.subscription_id = subscription_id
    return msg


def with_header(msg_id: str, msg_type: int, body: bytes) -> bytes:
    """A serialized Message from its header and the serialized ``Msg`` holding only its body
    (``Msg(body=...).SerializeToString()``): the bytes protobuf writes for the whole Message, so
    a body built once (a Boot! notification) serves every msg_id."""
    header = _text(b"\x0a", msg_id) + (b"\x10" + _varint(msg_type) if msg_type else b"")  # Header 1, 2
    return b"\x0a" + _varint(len(header)) + header + body  # Msg.header = 1 (body = 2 follows)


def notify_resp_payload(msg_id: str, subscription_id: str) -> bytes:
    """``notify_resp(...).SerializeToString()`` without the objects (a storm answers every Boot!)."""
    m = msg_id.encode()
    s = subscription_id.encode()
    lm, ls = len(m), len(s)
    if lm < 120 and ls < 120:  # every length below fits one byte: lay the bytes out at once
        notify_len = ls + 2 if ls else 0
        # Msg.header 1 {msg_id 1, msg_type 2 = NOTIFY_RESP 16}, Msg.body 2 {Response.notify_resp 8
        # {NotifyResp.subscription_id 1}}
        return b"".join((b"\x0a", _SMALL[lm + 4 if lm else 2], b"\x0a" + _SMALL[lm] if lm else b"", m,
                         b"\x10\x10\x12", _SMALL[notify_len + 4], b"\x12", _SMALL[notify_len + 2], b"\x42",
                         _SMALL[notify_len],
                         b"\x0a" + _SMALL[ls] if ls else b"", s))
    header = _text(b"\x0a", msg_id) + b"\x10\x10"  # Header.msg_id = 1, msg_type = 2 (NOTIFY_RESP = 16)
    notify = _text(b"\x0a", subscription_id)  # NotifyResp.subscription_id = 1
    resp = b"\x42" + _varint(len(notify)) + notify  # Response.notify_resp = 8
    body = b"\x12" + _varint(len(resp)) + resp  # Body.response = 2
    return b"\x0a" + _varint(len(header)) + header + b"\x12" + _varint(len(body)) + body  # Msg.header 1, body 2


def notify_resp_record(msg_id: str, subscription_id: str, *, to_id: str, from_id: str,
                       version: str = USP_VERSION) -> bytes:
    """The whole Record answering a Notify: :func:`notify_resp_payload` in :func:`wrap_payload`."""
    return wrap_payload(notify_resp_payload(msg_id, subscription_id), to_id=to_id, from_id=from_id, version=version)


def _len_field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field that is written even when empty (a message, a repeated element)."""
    return tag + _varint(len(body)) + body


def set_resp_payload(msg_id: str,
                     results: Iterable[tuple[str, Mapping[str, str], Iterable[tuple[str, int, str]]]]) -> bytes:
    """A serialized SetResp Message, one successful UpdatedObjectResult per ``(object path, {param:
    value set}, [(param, err_code, err_msg) of a non-required param that failed])`` — what
    ``response(msg_id, SET)`` filled field by field serializes to (map entries may come in another
    order: protobuf writes a map in hash order; ``tests/usp/test_records.py`` compares the parsed
    Messages, and the bytes of single-parameter ones). Why: the agent simulator answers every Set
    of a fan-out, and building the nested objects was a third of its CPU per Set."""
    objs = []
    for obj, params, errs in results:
        inst = [_text(b"\x0a", obj)]  # UpdatedInstanceResult.affected_path = 1
        for name, code, message in errs:  # param_errs = 2 (ParameterError: param 1, err_code 2 fixed32, err_msg 3)
            fixed = b"\x15" + code.to_bytes(4, "little") if code else b""
            err = _text(b"\x0a", name) + fixed + _text(b"\x1a", message)
            inst.append(_len_field(b"\x12", err))
        for name, value in params.items():  # updated_params = 3: map entries write key and value even when empty
            k, v = name.encode(), value.encode()
            inst.append(_len_field(b"\x1a", b"\x0a" + _varint(len(k)) + k + b"\x12" + _varint(len(v)) + v))
        success = _len_field(b"\x0a", b"".join(inst))  # OperationSuccess.updated_inst_results = 1
        status = _len_field(b"\x12", success)  # OperationStatus.oper_success = 2
        objs.append(_len_field(b"\x0a", _text(b"\x0a", obj) + _len_field(b"\x12", status)))  # requested_path 1, 2
    response = _len_field(b"\x22", b"".join(objs))  # Response.set_resp = 4 (SetResp.updated_obj_results = 1)
    header = _text(b"\x0a", msg_id) + b"\x10\x05"  # Header.msg_id = 1, msg_type = 2 (SET_RESP = 5)
    return _len_field(b"\x0a", header) + _len_field(b"\x12", _len_field(b"\x12", response))  # Msg 1, 2; Body.response 2


_RESPONSE_FIELD: dict[int, str] = {
    Header.GET: "get_resp",
    Header.SET: "set_resp",
    Header.ADD: "add_resp",
    Header.DELETE: "delete_resp",
    Header.OPERATE: "operate_resp",
    Header.NOTIFY: "notify_resp",
    Header.GET_SUPPORTED_DM: "get_supported_dm_resp",
    Header.GET_INSTANCES: "get_instances_resp",
    Header.GET_SUPPORTED_PROTO: "get_supported_protocol_resp",
    Header.REGISTER: "register_resp",
    Header.DEREGISTER: "deregister_resp",
}


def _response_template(request_type: int) -> bytes:
    msg = _msg("", RESPONSE_OF[request_type])
    getattr(msg.body.response, _RESPONSE_FIELD[request_type]).SetInParent()
    data: bytes = msg.SerializeToString()  # protobuf's Message base is untyped here (no stubs)
    return data


#: The serialized empty response per request type: parsing one is about half the cost of building
#: it field by field (protobuf's Python objects are made per nested access), and agents answer a lot.
_RESPONSE_TEMPLATES: dict[int, bytes] = {t: _response_template(t) for t in _RESPONSE_FIELD}


def response(msg_id: str, request_type: int) -> msg_pb.Msg:
    """An (empty but well-formed) response Message answering a request of ``request_type``."""
    msg: msg_pb.Msg = msg_pb.Msg.FromString(_RESPONSE_TEMPLATES[request_type])
    msg.header.msg_id = msg_id
    return msg


def error(msg_id: str, code: int, message: str, param_errs: Iterable[tuple[str, int, str]] = ()) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.ERROR)
    err = msg.body.error
    err.err_code = code
    err.err_msg = message
    for path, c, m in param_errs:
        err.param_errs.add(param_path=path, err_code=c, err_msg=m)
    return msg


def notify(msg_id: str, subscription_id: str, *, send_resp: bool) -> msg_pb.Msg:
    msg = _msg(msg_id, Header.NOTIFY)
    n = msg.body.request.notify
    n.subscription_id = subscription_id
    n.send_resp = send_resp
    return msg


def flatten_get_resp(resp: msg_pb.GetResp) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    """``({full param path: value}, {requested path: (err_code, err_msg)})`` from a GetResp."""
    values: dict[str, str] = {}
    errors: dict[str, tuple[int, str]] = {}
    for rpr in resp.req_path_results:
        if rpr.err_code:
            errors[rpr.requested_path] = (int(rpr.err_code), rpr.err_msg)
            continue
        for res in rpr.resolved_path_results:
            base = res.resolved_path
            if base and not base.endswith("."):
                base += "."
            for name, value in res.result_params.items():
                values[base + name] = value
    return values, errors
