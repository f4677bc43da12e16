"""The ports are :mod:`core.kernel.ports`; this package keeps the old names working (each module here is
the kernel's module), for code written before the kernel had a folder of its own."""
