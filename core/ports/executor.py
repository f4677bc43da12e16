"""The old name of :mod:`core.kernel.ports.executor` (the domain kernel has a folder of its own): the same
module, for code that still imports it here."""

import sys

from core.kernel.ports import executor as _kernel
from core.kernel.ports.executor import *  # noqa: F403  (the names, for type checkers; at run time this module is replaced)

sys.modules[__name__] = _kernel
