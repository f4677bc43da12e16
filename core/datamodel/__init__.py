"""The data models are :mod:`core.kernel.datamodel`; this package keeps the old names working (each
module here is the kernel's module), for code written before the kernel had a folder of its own."""

from typing import TYPE_CHECKING

from core.kernel.datamodel import __getattr__ as __getattr__  # the registry's names, loaded when first asked for

if TYPE_CHECKING:
    from core.kernel.datamodel import *  # noqa: F403
