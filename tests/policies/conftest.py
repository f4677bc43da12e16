"""Shared fixtures: one embedded engine per session (building one parses the whole pack)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from policies.engine import EmbeddedRegoEngine
from policies.loader import DATA_DIR, RULES_DIR


@pytest.fixture(scope="session")
def engine() -> EmbeddedRegoEngine:
    return EmbeddedRegoEngine()


@pytest.fixture
def pack_copy(tmp_path: Path) -> Callable[[], tuple[Path, Path]]:
    """A writable copy of the rules and data, for tests that break or retune the pack."""

    def make() -> tuple[Path, Path]:
        rules, data = tmp_path / "rego", tmp_path / "data"
        shutil.copytree(RULES_DIR, rules)
        shutil.copytree(DATA_DIR, data)
        return rules, data

    return make
