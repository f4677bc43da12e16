"""The executor contract, for the adapters: it lives in the port, :mod:`core.ports.executor`
(issue 35), at the domain kernel's level, so the core services that hold adapters through it never
import ``executors``. Every name is re-exported here, where the adapters have always imported it
from; each adapter's writes go through the grant verifier bound to it (``Executor.bind_grant_verifier``)."""

from __future__ import annotations

from core.ports.executor import COMMANDS as COMMANDS
from core.ports.executor import RETRYABLE_ERRORS as RETRYABLE_ERRORS
from core.ports.executor import ApplyResult as ApplyResult
from core.ports.executor import BackupRead as BackupRead
from core.ports.executor import Busy as Busy
from core.ports.executor import CommandHandler as CommandHandler
from core.ports.executor import DeviceOffline as DeviceOffline
from core.ports.executor import DeviceReader as DeviceReader
from core.ports.executor import Discovery as Discovery
from core.ports.executor import Executor as Executor
from core.ports.executor import ExecutorError as ExecutorError
from core.ports.executor import Fault as Fault
from core.ports.executor import GrantPurpose as GrantPurpose
from core.ports.executor import GrantVerifier as GrantVerifier
from core.ports.executor import InvalidParameterName as InvalidParameterName
from core.ports.executor import InvalidValue as InvalidValue
from core.ports.executor import NotWritable as NotWritable
from core.ports.executor import OperateResult as OperateResult
from core.ports.executor import ParamValue as ParamValue
from core.ports.executor import Presence as Presence
from core.ports.executor import ReadOnlyExecutor as ReadOnlyExecutor
from core.ports.executor import Timeout as Timeout
from core.ports.executor import UnknownAdapter as UnknownAdapter
from core.ports.executor import UnknownDevice as UnknownDevice
from core.ports.executor import WriteGrant as WriteGrant
from core.ports.executor import WriteRefused as WriteRefused
from core.ports.executor import dispatch_command as dispatch_command
from core.ports.executor import verify_grant as verify_grant
