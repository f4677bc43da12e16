"""Gateward's composition root: the CLI and the wiring of store, policy, executors and lifecycle."""
