"""Karrio's wire shapes shared by the sandbox modules: errors, carrier messages, ids, times.

Errors are what Karrio's exception handler answers (reference karrio-server.md §5):

* ``{"errors": [{"code", "message", "level"}]}`` for 400 (``validation``, ``parse_error``,
  ``service_unavailable``, ``validation_error``), 401 (``not_authenticated``,
  ``invalid_token``), 404 (``not_found``, level ``warning``), 409 (``state_error``),
  413, 429 (``throttled``, level ``warning``), 500;
* ``{"messages": [Message...]}`` for 424, when every carrier asked failed.

:class:`KarrioError` carries one of those answers from where it is decided to the router.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, Final

#: Level Karrio gives an error by HTTP status (``ERROR_LEVEL_DEFAULTS``); others: ``error``.
_LEVELS: Final = {404: "warning", 429: "warning", 503: "warning"}

#: Karrio's code for a carrier call that raised (connection refused, 5xx, read timeout).
SDK_ERROR: Final = "SHIPPING_SDK_INTERNAL_ERROR"

#: What each injected fault looks like inside a carrier message.
FAULT_MESSAGES: Final = {
    "outage": "HTTP Error 503: Service Unavailable",
    "error": "HTTP Error 500: Internal Server Error",
    "timeout": "The read operation timed out",
}


class KarrioError(Exception):
    """An error answer in Karrio's shape, raised below the router and sent by it."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers


def error(
    status: int, code: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> KarrioError:
    """One ``{"errors": [...]}`` entry with the level Karrio gives ``status``."""
    level = _LEVELS.get(status, "error")
    return KarrioError(
        status, {"errors": [{"code": code, "message": message, "level": level}]}, headers
    )


def validation(messages: list[str]) -> KarrioError:
    """400 with one ``validation`` entry per field, like Karrio's flattened serializer errors."""
    entries = [{"code": "validation", "message": m, "level": "error"} for m in messages]
    return KarrioError(400, {"errors": entries})


def not_found(message: str) -> KarrioError:
    """404 ``not_found`` (level ``warning``)."""
    return error(404, "not_found", message)


def state_error(message: str) -> KarrioError:
    """409 ``state_error``: the shipment's status forbids the operation."""
    return error(409, "state_error", message)


def service_unavailable() -> KarrioError:
    """400 ``service_unavailable``: the rate or service is not one the shipment can buy."""
    return error(
        400, "service_unavailable", "The service you selected is not available for this shipment."
    )


def carriers_failed(messages: list[dict[str, Any]]) -> KarrioError:
    """424 ``{"messages": [...]}``: every carrier asked failed."""
    return KarrioError(424, {"messages": messages})


def carrier_message(name: str, carrier_id: str, fault: str) -> dict[str, Any]:
    """The ``messages[]`` entry for a carrier call that failed with ``fault``."""
    return {
        "carrier_name": name,
        "carrier_id": carrier_id,
        "code": SDK_ERROR,
        "message": FAULT_MESSAGES[fault],
        "level": "error",
        "details": {"sandbox_fault": fault},
    }


class Ids:
    """Karrio-style ids (``shp_`` + 32 hex, ...) from one seeded generator: same seed, same ids."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"carrier-ids:{seed}")

    def new(self, prefix: str) -> str:
        """A fresh ``<prefix>_<32 hex>`` id."""
        return f"{prefix}_{self._rng.getrandbits(128):032x}"

    def digits(self, count: int) -> str:
        """``count`` random decimal digits (tracking numbers)."""
        return f"{self._rng.randrange(10**count):0{count}d}"


def iso(ms: int) -> str:
    """``2026-01-01T10:00:00.000Z`` (UTC, milliseconds) for a Unix time in ms."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def day(ms: int) -> str:
    """``YYYY-MM-DD`` (UTC)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def clock_time(ms: int) -> str:
    """``HH:MM AM`` (UTC), the event time format of Karrio's own events."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%I:%M %p")


def to_major(minor: int) -> float:
    """Minor units as the JSON number Karrio sends (``1299`` → ``12.99``: shortest repr)."""
    return minor / 100
