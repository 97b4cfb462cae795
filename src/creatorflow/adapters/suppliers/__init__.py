"""Supplier adapters: each implements :class:`~creatorflow.ports.Supplier` (DESIGN §3, §6.3).

:class:`HttpSupplier` speaks a supplier's JSON HTTP API (the one
:mod:`creatorflow.sandbox.supplier` serves), with retries that always resend the same
``Idempotency-Key`` and a circuit breaker. Open it in ``app.py`` with
:func:`open_http_supplier`; nothing connects at import time or on construction.
"""

from creatorflow.adapters.suppliers.http import (
    HttpSupplier,
    HttpSupplierSettings,
    open_http_supplier,
)

__all__ = ["HttpSupplier", "HttpSupplierSettings", "open_http_supplier"]
