"""The executor contract's typed errors, for the adapters: they live in the port,
:mod:`core.kernel.ports.errors`, importable without pydantic, and are re-exported
here under the names every adapter and the simulator's DB-API read have always imported."""

from __future__ import annotations

from core.kernel.ports.errors import RETRYABLE_ERRORS as RETRYABLE_ERRORS
from core.kernel.ports.errors import Busy as Busy
from core.kernel.ports.errors import DeviceOffline as DeviceOffline
from core.kernel.ports.errors import ExecutorError as ExecutorError
from core.kernel.ports.errors import Fault as Fault
from core.kernel.ports.errors import InvalidParameterName as InvalidParameterName
from core.kernel.ports.errors import InvalidValue as InvalidValue
from core.kernel.ports.errors import NotWritable as NotWritable
from core.kernel.ports.errors import Timeout as Timeout
from core.kernel.ports.errors import UnknownAdapter as UnknownAdapter
from core.kernel.ports.errors import UnknownDevice as UnknownDevice
