"""Gateward's shared domain: models, TR-181 registry, store, lifecycle (the only writer), audit."""
