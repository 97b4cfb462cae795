"""StoreTokenStore on both stores: both tokens saved as one, read back after a restart."""

from __future__ import annotations

from typing import Any

import pytest

from creatorflow.adapters.tiktok import StoreTokenStore
from creatorflow.ports import TikTokTokens

pytestmark = pytest.mark.anyio


async def test_tokens_round_trip_and_replace_as_one(store: Any) -> None:
    tokens = StoreTokenStore(store)
    assert await tokens.load("shop-1") is None
    first = TikTokTokens(
        access_token="a1", access_expires_at=100, refresh_token="r1", refresh_expires_at=200
    )
    await tokens.save("shop-1", first)
    assert await tokens.load("shop-1") == first
    second = TikTokTokens(
        access_token="a2", access_expires_at=300, refresh_token="r2", refresh_expires_at=400
    )
    await tokens.save("shop-1", second)
    again = StoreTokenStore(store)  # a new process reads what the old one saved
    assert await again.load("shop-1") == second
    assert await again.load("shop-2") is None
