"""Remediation jobs: detector cases, zero-touch provisioning, storm protection (see
``docs/remediation.md``). The entry point is :class:`brain.remediation.service.Remediation`."""
