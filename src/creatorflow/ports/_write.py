"""The base of every write op (kept apart so capability modules can subclass it without
importing the store ports, which compose their readers)."""

from __future__ import annotations

import msgspec


class WriteOp(msgspec.Struct, frozen=True, kw_only=True):
    """One durable write for ``TransactionalStore.apply``; each capability defines its own.

    An open base rather than a closed union: every store backend keeps a registry of appliers
    (``adapters/store/_registry.py``) and a contract test checks that every subclass has one
    in every backend. Ops are never decoded from the wire; they are plain frozen records.
    """


#: ``True``/``False`` (inserts and upserts: new or not), ``int`` (a journal seq) or ``None``.
WriteResult = bool | int | None
