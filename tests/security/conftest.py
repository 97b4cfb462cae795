"""Fixtures for the security regressions: a real service on 127.0.0.1:0 (SQLite, built-in
sandboxes), as an attacker on the network would find it. Modules pick their backends with
their own ``anyio_backend`` fixture (most use the production stack: uvicorn on uvloop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.app import Service, open_service
from helpers import make_config


@pytest.fixture
async def service(tmp_path: Path, anyio_backend: Any) -> AsyncIterator[Service]:
    async with open_service(make_config(tmp_path, anyio_backend)) as svc:
        yield svc


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, timeout=10.0) as c:
        yield c
