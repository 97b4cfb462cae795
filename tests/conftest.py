"""Shared fixtures: the three runtime backends and the real-service switches."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

BACKENDS = [
    pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    pytest.param(("trio", {}), id="trio"),
]

REQUIRE_SERVICES = os.environ.get("CREATORFLOW_REQUIRE_SERVICES") == "1"


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Every ``@pytest.mark.anyio`` test runs on asyncio, asyncio+uvloop and trio."""
    return request.param


@pytest.fixture
def asyncio_only(anyio_backend: Any) -> None:
    """Skip the trio variant of a test that needs asyncio (asyncpg, redis, uvicorn)."""
    if anyio_backend[0] != "asyncio":
        pytest.skip("needs the asyncio backend")


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
