"""The executor contract, for the adapters: it lives in the port, :mod:`core.kernel.ports.executor`,
at the domain kernel's level, so the core services that hold adapters through it never
import ``executors``. Every name is re-exported here, where the adapters have always imported it
from; each adapter's writes go through the grant verifier bound to it (``Executor.bind_grant_verifier``)."""

from __future__ import annotations

from core.kernel.ports.executor import COMMANDS as COMMANDS
from core.kernel.ports.executor import RETRYABLE_ERRORS as RETRYABLE_ERRORS
from core.kernel.ports.executor import ApplyResult as ApplyResult
from core.kernel.ports.executor import BackupRead as BackupRead
from core.kernel.ports.executor import Busy as Busy
from core.kernel.ports.executor import CommandHandler as CommandHandler
from core.kernel.ports.executor import DeviceOffline as DeviceOffline
from core.kernel.ports.executor import DeviceReader as DeviceReader
from core.kernel.ports.executor import Discovery as Discovery
from core.kernel.ports.executor import Executor as Executor
from core.kernel.ports.executor import ExecutorError as ExecutorError
from core.kernel.ports.executor import Fault as Fault
from core.kernel.ports.executor import GrantPurpose as GrantPurpose
from core.kernel.ports.executor import GrantVerifier as GrantVerifier
from core.kernel.ports.executor import InvalidParameterName as InvalidParameterName
from core.kernel.ports.executor import InvalidValue as InvalidValue
from core.kernel.ports.executor import NotWritable as NotWritable
from core.kernel.ports.executor import OperateResult as OperateResult
from core.kernel.ports.executor import ParamValue as ParamValue
from core.kernel.ports.executor import Presence as Presence
from core.kernel.ports.executor import PreviewRead as PreviewRead
from core.kernel.ports.executor import ReadOnlyExecutor as ReadOnlyExecutor
from core.kernel.ports.executor import Timeout as Timeout
from core.kernel.ports.executor import UnknownAdapter as UnknownAdapter
from core.kernel.ports.executor import UnknownDevice as UnknownDevice
from core.kernel.ports.executor import WriteGrant as WriteGrant
from core.kernel.ports.executor import WriteRefused as WriteRefused
from core.kernel.ports.executor import dispatch_command as dispatch_command
from core.kernel.ports.executor import verify_grant as verify_grant
