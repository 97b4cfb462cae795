"""The supplier edge: the configured supplier API, or the built-in sandbox supplier.

Opened by ``app`` before the capabilities install (the stock watcher places purchase orders
through it); :func:`install` mounts the sandbox's own HTTP surface when it may be served.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from creatorflow.adapters.suppliers import HttpSupplierSettings, open_http_supplier
from creatorflow.config import Config
from creatorflow.errors import ConfigError
from creatorflow.ports import Clock, Supplier
from creatorflow.sandbox.supplier import SupplierSandbox, SupplierSandboxConfig
from creatorflow.wiring._assembly import Assembly
from creatorflow.wiring.core import may_mount_sandboxes

log = logging.getLogger("creatorflow")

#: Where the built-in sandbox supplier is mounted when ``supplier.base_url`` is empty.
SUPPLIER_PREFIX = "/sandbox/supplier"
_SANDBOX_KEY = "sandbox-supplier-key"


@asynccontextmanager
async def open_supplier(
    config: Config, clock: Clock
) -> AsyncIterator[tuple[Supplier, SupplierSandbox | None]]:
    """The configured supplier; without a ``base_url``, an in-process sandbox supplier (also
    mounted at :data:`SUPPLIER_PREFIX`), reached through ``httpx.ASGITransport``.

    Raises:
        ConfigError: a supplier setting out of range.
    """
    sc = config.supplier
    sandbox: SupplierSandbox | None = None
    transport: httpx.AsyncBaseTransport | None = None
    base_url, api_key = sc.base_url, sc.api_key
    if not base_url:
        sandbox = SupplierSandbox(
            SupplierSandboxConfig(api_key=_SANDBOX_KEY, lead_time_s=sc.lead_time_s), clock=clock
        )
        transport = httpx.ASGITransport(app=sandbox)
        base_url, api_key = "http://sandbox-supplier", _SANDBOX_KEY
    try:
        settings = HttpSupplierSettings(
            supplier_id=sc.id,
            base_url=base_url,
            api_key=api_key,
            lead_time_s=sc.lead_time_s,
            timeout_s=sc.timeout_s,
            max_attempts=sc.max_attempts,
        )
    except ValueError as exc:
        raise ConfigError(f"config: supplier: {exc}") from None
    async with open_http_supplier(settings, transport=transport) as supplier:
        log.info("supplier: %s at %s", sc.id, "the built-in sandbox" if sandbox else sc.base_url)
        yield supplier, sandbox


def install(asm: Assembly) -> None:
    """Mount the sandbox supplier's admin and API (off loopback only when asked for)."""
    if asm.supplier_sandbox is not None and may_mount_sandboxes(asm.config):
        asm.mounts[SUPPLIER_PREFIX] = asm.supplier_sandbox
