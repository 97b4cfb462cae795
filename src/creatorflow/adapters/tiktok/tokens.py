"""Token stores (:class:`~creatorflow.ports.TokenStore`): in memory, and in the service's store.

:class:`MemoryTokenStore` keeps tokens only as long as the process (tests, the sandbox).
:class:`StoreTokenStore` keeps them in the ``tiktok_tokens`` table of the SQLite or Postgres
store, so a restart does not need a new authorization. Tokens are stored as they are (not
encrypted at rest yet: protect the database like the secrets it holds).

Atomicity: one shop's tokens are one frozen :class:`~creatorflow.ports.TikTokTokens` value,
replaced by a single dict assignment with no await in between, so a reader sees the old pair or
the new pair, never the new access token with the old refresh token.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio.lowlevel
import msgspec

from creatorflow.errors import StoreError
from creatorflow.ports import SaveTokens, TikTokTokens, TokenReader, TransactionalStore

__all__ = ["MemoryTokenStore", "StoreTokenStore"]

_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(TikTokTokens)


class _TokenTable(TransactionalStore, TokenReader, Protocol):
    """The parts of the store a :class:`StoreTokenStore` uses."""


class StoreTokenStore:
    """Tokens in the service's store: both tokens of a shop are one row, written in one
    transaction (``SaveTokens``), so a reader never sees a new access token with an old refresh
    token. Writes go straight to the store (rare: one per refresh), not through the group commit.

    Raises (both methods): StoreUnavailable / StoreError from the store; StoreError for a
    stored document that no longer decodes.
    """

    def __init__(self, store: _TokenTable) -> None:
        self._store = store

    async def load(self, shop_key: str) -> TikTokTokens | None:
        doc = await self._store.load_tokens(shop_key)
        if doc is None:
            return None
        try:
            return _DECODE.decode(doc)
        except msgspec.DecodeError as exc:
            raise StoreError(f"stored tokens of {shop_key!r} do not decode: {exc}") from exc

    async def save(self, shop_key: str, tokens: TikTokTokens) -> None:
        op = SaveTokens(
            shop_key=shop_key, doc=_ENCODE(tokens), updated_at_ms=time.time_ns() // 1_000_000
        )
        await self._store.apply([op])


class MemoryTokenStore:
    """A bounded dict of tokens per shop key.

    Args:
        max_shops: most shop keys held; saving a new key beyond it raises StoreError
            (tokens are never evicted silently: losing one forces a re-authorization).
    """

    def __init__(self, max_shops: int = 100_000) -> None:
        if max_shops < 1:
            raise ValueError(f"MemoryTokenStore needs max_shops >= 1, got {max_shops!r}")
        self.max_shops = max_shops
        self._tokens: dict[str, TikTokTokens] = {}  # bounded: len <= max_shops

    async def load(self, shop_key: str) -> TikTokTokens | None:
        """The tokens of ``shop_key`` or None. A checkpoint."""
        await anyio.lowlevel.checkpoint()
        return self._tokens.get(shop_key)

    async def save(self, shop_key: str, tokens: TikTokTokens) -> None:
        """Replace the tokens of ``shop_key`` in one step. A checkpoint.

        Raises:
            StoreError: the store is full and ``shop_key`` is new; nothing was saved.
        """
        await anyio.lowlevel.checkpoint()
        if shop_key not in self._tokens and len(self._tokens) >= self.max_shops:
            raise StoreError(f"token store full ({self.max_shops} shops)")
        self._tokens[shop_key] = tokens

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"MemoryTokenStore(shops={len(self._tokens)})"
