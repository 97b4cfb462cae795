"""Idempotency-Keys in every store: the edges the mutation run found unguarded.

A sweep deletes at most ``limit`` expired keys, and ``limit`` 1 is a valid bound; a key still
live is refused with an error that names the store, the key and the SKU (it is the last line of
defence of "applied once", and the log line an operator reads).
"""

from __future__ import annotations

import re

import pytest
from store_factories import LeadingStore

from creatorflow.errors import StoreError
from creatorflow.ports import DeleteAdjustmentKeys, PutAdjustmentKey

pytestmark = pytest.mark.anyio


def key(name: str, at: int = 1_000, ttl: int = 1_000) -> PutAdjustmentKey:
    return PutAdjustmentKey(
        sku="sku-a", key=name, delta=5, reason="r", created_at_ms=at, expires_at_ms=at + ttl
    )


async def test_a_sweep_with_limit_one_deletes_one_key(store: LeadingStore) -> None:
    await store.apply([key("k-1", ttl=100), key("k-2", ttl=200), key("k-3", ttl=300)])
    sweep = DeleteAdjustmentKeys(sku="sku-a", now_ms=5_000, limit=1)
    assert await store.apply([sweep]) == [1]
    assert await store.get_adjustment_key("sku-a", "k-1") is None  # the soonest expired first
    assert await store.get_adjustment_key("sku-a", "k-2") is not None
    assert await store.apply([sweep, sweep]) == [1, 1]
    assert await store.get_adjustment_key("sku-a", "k-3") is None


@pytest.mark.parametrize("limit", [0, -1])
async def test_a_sweep_without_a_positive_limit_is_refused(store: LeadingStore, limit: int) -> None:
    await store.apply([key("k-1", ttl=100)])
    with pytest.raises(StoreError, match=f"^DeleteAdjustmentKeys needs limit >= 1, got {limit}$"):
        await store.apply([DeleteAdjustmentKeys(sku="sku-a", now_ms=5_000, limit=limit)])
    assert await store.get_adjustment_key("sku-a", "k-1") is not None


LIVE = re.compile(
    r"(sqlite|postgres) apply: Idempotency-Key 'k-1' of SKU 'sku-a' is still live; "
    r"its adjustment was already applied"
)


async def test_a_live_key_is_refused_naming_the_store_the_key_and_the_sku(
    store: LeadingStore,
) -> None:
    await store.apply([key("k-1", at=1_000)])
    for ops in ([key("k-1", at=1_500)], [key("k-0", at=1_500), key("k-1", at=1_500)]):
        with pytest.raises(StoreError) as info:
            await store.apply(ops)
        assert LIVE.fullmatch(str(info.value)), str(info.value)
    assert await store.get_adjustment_key("sku-a", "k-0") is None
