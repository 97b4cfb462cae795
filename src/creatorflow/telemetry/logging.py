"""Structured logs: the ids an operator follows, bound in context, JSON in production.

An operator follows one order, one webhook or one SKU across half a dozen actors. Code binds
those ids around the work it does for them (:func:`bound`); every log record made meanwhile,
by any module through the standard ``logging`` API, carries them. The output is one JSON object
per line (``log.format = "json"``: for log shippers) or readable text with the ids appended
(``"text"``); ``"auto"`` picks text on a terminal and JSON otherwise.

Binding uses a :class:`contextvars.ContextVar`, so it follows the task: a task started inside
a ``bound`` block inherits the ids it had at its start, and nothing leaks between tasks.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Final, Literal, TextIO

#: Ids a record may carry (the only keys :func:`bound` accepts: bounded, and known to readers).
FIELDS: Final = ("order_id", "notification_id", "sku", "shop_id", "po_id", "carrier")

LogFormat = Literal["auto", "json", "text"]

_NONE: Final[Mapping[str, str]] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "creatorflow_log_context", default=_NONE
)


@contextmanager
def bound(**ids: str) -> Iterator[None]:
    """Log records made inside the block (in this task, and in tasks started here) carry
    ``ids``. Raises ValueError for a key not in :data:`FIELDS`."""
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields: {sorted(unknown)}")
    token = _context.set({**_context.get(), **ids})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> Mapping[str, str]:
    """The ids bound where this is called."""
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (``record.ctx``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.ctx = _context.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the bound ids, the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "ctx", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [order_id=… sku=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = getattr(record, "ctx", {})
        if ids:
            text += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return text


def setup(level: str, fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (the CLI calls this)."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if level != "DEBUG":
        # One INFO line per outbound HTTP call (every TikTok call) drowns the service's own
        # log; the clients count and time their calls in /metrics instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)


__all__ = ["FIELDS", "ContextFilter", "JsonFormatter", "LogFormat", "TextFormatter", "bound",
           "current", "setup"]  # fmt: skip
