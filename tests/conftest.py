"""Fixtures shared across the test directories: ``recipes``, a recipe copy with recording stand-ins
(``recipe_standins.py``; pyproject's pytest ``pythonpath`` makes it importable by name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recipe_standins import copy_recipes


@pytest.fixture
def recipes(tmp_path) -> Path:
    """A copy of scripts/ and the recipes under tmp_path, and bin/ with the recording stand-ins."""
    return copy_recipes(tmp_path)
