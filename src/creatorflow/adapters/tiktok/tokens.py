"""In-memory :class:`~creatorflow.ports.TokenStore`: tokens for tests, the demo and the sandbox.

Tokens live only as long as the process: a restart needs a fresh authorization. The SQL-backed
store (tokens in the shared store, encrypted at rest) comes with the store work; it implements
the same port, so the client does not change.

Atomicity: one shop's tokens are one frozen :class:`~creatorflow.ports.TikTokTokens` value,
replaced by a single dict assignment with no await in between, so a reader sees the old pair or
the new pair, never the new access token with the old refresh token.
"""

from __future__ import annotations

import anyio.lowlevel

from creatorflow.errors import StoreError
from creatorflow.ports import TikTokTokens

__all__ = ["MemoryTokenStore"]


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
