"""Bounds on what crosses the edge: integers, ids and JSON nesting (pure, no I/O).

Everything a client sends that can reach a column is bounded here, in the wire types, so a
value the store cannot hold is a ``400`` naming the field, not a failed transaction:

- integers fit a 64-bit signed column (SQLite ``INTEGER``, Postgres ``bigint``);
- ids (notification, shop, order, seller/creator ids) are 1-128 characters with no control
  characters (``Id``); free text is bounded by its own type where it is declared;
- JSON nests at most ``MAX_JSON_DEPTH`` levels (objects and arrays), far deeper than any TikTok
  payload, far shallower than the decoder's recursion limit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import msgspec

#: Largest value of a 64-bit signed column.
INT64_MAX: Final = 2**63 - 1
INT64_MIN: Final = -(2**63)

#: Longest id (characters) accepted for notification, shop, order, seller and creator ids.
MAX_ID_CHARS: Final = 128

#: Deepest nesting of JSON objects/arrays accepted in a body.
MAX_JSON_DEPTH: Final = 32

#: Characters no id may hold: C0 and C1 controls, DEL.
CONTROL_CHARS: Final = r"\x00-\x1f\x7f-\x9f"

Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Id = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=f"^[^{CONTROL_CHARS}]+$"),
]
#: An id that may be sent empty (TikTok leaves some envelope ids blank: "" means absent).
OptionalId = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS, pattern=f"^[^{CONTROL_CHARS}]*$")]

_ID_RE: Final = re.compile(f"[^{CONTROL_CHARS}]{{1,{MAX_ID_CHARS}}}")


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is an :data:`Id` (1-128 characters, no control characters)."""
    return _ID_RE.fullmatch(value) is not None


def json_depth_exceeds(body: bytes, value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the decoded JSON ``value`` of ``body`` nests deeper than ``limit``.

    Cheap on ordinary bodies: nesting deeper than ``limit`` needs more than ``limit`` brackets,
    and counting them is a C-speed scan; only bodies with that many brackets are walked
    (iteratively, so a deep value cannot exhaust the stack here either).
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
