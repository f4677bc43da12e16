"""Ports: the contracts the core services hold adapters to, at the domain kernel's level.

Why a package of their own: the core services drive adapters (the executors) and adapters hand
the core what they learn, so the contract between them cannot live on either side without the
two importing each other. It lives here, below both: the core services import a port, adapters
implement it, and neither imports the other (``lint-imports``: core never imports ``executors``;
adapters import only the kernel and the ports). The composition root (``gateward``) plugs the
concrete adapters in.

* :mod:`core.kernel.ports.errors` — the executor contract's typed errors (importable without pydantic);
* :mod:`core.kernel.ports.executor` — the executor contract: results, write grants, reader and writer;
* :mod:`core.kernel.ports.topics` — where USP agents listen, as the USP adapter asks its topic book.

Nothing is imported here eagerly: a read-only CLI command imports :mod:`core.kernel.ports.errors`
without paying for the contract's pydantic models.
"""
