"""Shared fixtures: the three runtime backends (see ``backends.py``) and the real-service
switches."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from backends import ASYNCIO_BACKENDS, BACKENDS, NEEDS_ASYNCIO, on_backends, parametrizes

REQUIRE_SERVICES = os.environ.get("CREATORFLOW_REQUIRE_SERVICES") == "1"


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Every ``@pytest.mark.anyio`` test runs on asyncio, asyncio+uvloop and trio."""
    return request.param


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``asyncio_only`` (itself, its class or module) is generated for asyncio
    and uvloop only, unless it names its backends itself (``on_backends``). Runs before
    pytest's own parametrization, which then takes the mark added here."""
    if "anyio_backend" not in metafunc.fixturenames or parametrizes(metafunc, "anyio_backend"):
        return
    if metafunc.definition.get_closest_marker(NEEDS_ASYNCIO) is not None:
        metafunc.definition.add_marker(on_backends(*ASYNCIO_BACKENDS))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail, with CREATORFLOW_REQUIRE_SERVICES=1) when a real server does not answer."""
    if _answers(host, port):
        return
    message = f"{name} does not answer on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and CREATORFLOW_REQUIRE_SERVICES=1")
    pytest.skip(f"{message} (start it, or set CREATORFLOW_REQUIRE_SERVICES=1 to make this fail)")


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("CREATORFLOW_TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return url


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CREATORFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    require_service("Redis", "127.0.0.1", 6379)
    return url
