"""Carrier gateway adapters: each implements :class:`~creatorflow.ports.shipping.CarrierGateway`.

:class:`KarrioGateway` speaks Karrio's REST API v1 (a self-hosted gateway in front of 50+
carriers, and what the built-in sandbox carriers speak too). Open it with
:func:`open_karrio_gateway`; nothing connects at import time or on construction.
"""

from creatorflow.adapters.carriers.karrio import (
    KarrioGateway,
    KarrioSettings,
    open_karrio_gateway,
)

__all__ = ["KarrioGateway", "KarrioSettings", "open_karrio_gateway"]
