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
from typing import Annotated, Final

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
    msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=f"^[^{CONTROL_CHARS}]+\\Z"),
]
#: An id that may be sent empty (TikTok leaves some envelope ids blank: "" means absent).
OptionalId = Annotated[
    str, msgspec.Meta(max_length=MAX_ID_CHARS, pattern=f"^[^{CONTROL_CHARS}]*\\Z")
]

_ID_RE: Final = re.compile(f"[^{CONTROL_CHARS}]{{1,{MAX_ID_CHARS}}}")


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is an :data:`Id` (1-128 characters, no control characters)."""
    return _ID_RE.fullmatch(value) is not None


#: A JSON string (with its escapes), unrolled so long strings scan in one pass.
_JSON_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Every byte but the four brackets, for bytes.translate(None, delete=...).
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
#: ``{`` and ``}`` read as ``[`` and ``]``: only the nesting matters.
_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")


#: Characters no SKU id may hold: controls, and the bidirectional overrides and isolates
#: (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F) that make an id display as
#: another one.
SKU_FORBIDDEN: Final = CONTROL_CHARS + "\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: A SKU id: 1-128 allowed characters, not only whitespace, not ``.`` or ``..`` (which URL
#: clients resolve as path steps, so such a SKU could never be read back).
SKU_PATTERN: Final = f"^(?!\\.{{1,2}}\\Z)(?=.*\\S)[^{SKU_FORBIDDEN}]{{1,{MAX_ID_CHARS}}}\\Z"
_SKU_RE: Final = re.compile(SKU_PATTERN)
SkuId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=SKU_PATTERN)]


def is_valid_sku(value: str) -> bool:
    """Whether ``value`` is a :data:`SkuId`."""
    return _SKU_RE.match(value) is not None


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests objects/arrays deeper than ``limit``.

    Decides before decoding (a decoder would recurse once per level). C-speed throughout:
    nesting deeper than ``limit`` needs more than ``limit`` opening brackets, so ordinary
    bodies cost two ``count`` calls; others have their strings and every non-bracket byte
    removed, then lose one level of empty ``[]`` pairs per pass (``replace`` does not rescan
    what it produced), at most ``limit`` passes. Valid JSON is too deep exactly when brackets
    remain after ``limit`` passes; malformed JSON is too deep when more than ``limit`` of its
    openings are left unpaired (either way the body is refused).
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(_AS_SQUARE, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            # No empty pair left: malformed. Too deep if its unclosed openings could be
            # (a decoder would recurse through them before it saw the end).
            return brackets.count(b"[") > limit
        brackets = shorter
    return bool(brackets)
