"""Contract test setup: the ``store`` fixture over every store adapter (see ``store_factories``)
on every backend the adapter runs on, and ``store_factories`` made importable (tests run with
importlib mode)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from store_factories import FACTORIES, LeadingStore, StoreFactory  # noqa: E402

from backends import pair_with_backends  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # (backend, adapter) pairs: no trio copy of an adapter that needs asyncio (Postgres).
    pair_with_backends(metafunc, "store", FACTORIES)


@pytest.fixture
async def store(request: pytest.FixtureRequest, anyio_backend: Any) -> AsyncIterator[LeadingStore]:
    """A migrated, empty store, once per adapter and backend."""
    factory: StoreFactory = request.param
    async with factory(request) as opened:
        yield opened
