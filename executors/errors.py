"""The executor contract's typed errors, for the adapters: they live in the port,
:mod:`core.ports.errors` (issue 35), importable without pydantic (issue 15), and are re-exported
here under the names every adapter and the simulator's DB-API read have always imported."""

from __future__ import annotations

from core.ports.errors import RETRYABLE_ERRORS as RETRYABLE_ERRORS
from core.ports.errors import Busy as Busy
from core.ports.errors import DeviceOffline as DeviceOffline
from core.ports.errors import ExecutorError as ExecutorError
from core.ports.errors import Fault as Fault
from core.ports.errors import InvalidParameterName as InvalidParameterName
from core.ports.errors import InvalidValue as InvalidValue
from core.ports.errors import NotWritable as NotWritable
from core.ports.errors import Timeout as Timeout
from core.ports.errors import UnknownAdapter as UnknownAdapter
from core.ports.errors import UnknownDevice as UnknownDevice
