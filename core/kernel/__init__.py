"""The domain kernel: what every layer of Gateward speaks and nothing of Gateward's above it.

:mod:`~core.kernel.models` (proposals, devices, changes), :mod:`~core.kernel.errors` (typed errors
with stable codes), :mod:`~core.kernel.ids`, :mod:`~core.kernel.values` (TR-106 value forms),
:mod:`~core.kernel.config` (settings), :mod:`~core.kernel.secrets` and
:mod:`~core.kernel.secret_env` (secret parameters, ``*_FILE`` settings), :mod:`~core.kernel.canonical`
(canonical JSON), :mod:`~core.kernel.datamodel` (the TR-181/TR-098 data models) and
:mod:`~core.kernel.ports` (the contracts adapters implement). ``lint-imports`` holds it to itself
(``pyproject.toml``).
"""
