"""Runtime test setup: makes ``runtime_helpers`` importable (tests run with importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def log() -> list[Any]:
    """A fresh list the test actors record their life in."""
    return []
