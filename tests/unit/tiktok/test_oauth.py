"""OAuth: token get/refresh, expiry reading, proactive and 105002 refresh, single flight,
atomic persistence."""

from __future__ import annotations

import anyio
import httpx
import pytest
from tiktok_fakes import (
    APP_KEY,
    APP_SECRET,
    DAY,
    NOW_S,
    SHOP_ID,
    FakeTikTok,
    FakeWall,
    envelope,
    open_fake_client,
    tokens,
)

from creatorflow.adapters.tiktok import MemoryTokenStore, TikTokOAuth
from creatorflow.adapters.tiktok.oauth import absolute_expiry
from creatorflow.errors import (
    StoreError,
    StoreUnavailable,
    TikTokAuthError,
    TikTokError,
    TikTokTokenExpired,
    TikTokUnavailable,
)
from creatorflow.ports import TikTokTokens
from creatorflow.runtime.testing import wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

ORDERS = "/order/202309/orders"
REFRESH = "/api/v2/token/refresh"


def token_answer(access_expire: int, refresh_expire: int) -> httpx.Response:
    return envelope(
        {
            "access_token": "ROW_x",
            "access_token_expire_in": access_expire,
            "refresh_token": "ROW_y",
            "refresh_token_expire_in": refresh_expire,
            "open_id": "abc",
            "seller_name": "My Shop",
            "seller_base_region": "US",
        }
    )


def test_absolute_expiry() -> None:
    assert absolute_expiry(1700604800, NOW_S) == 1700604800
    assert absolute_expiry(1209600, NOW_S) == NOW_S + 1209600  # a duration, defensively
    assert absolute_expiry(-5, NOW_S) == NOW_S


async def test_get_token_sends_the_grant_and_reads_absolute_and_relative_expiries() -> None:
    fake = FakeTikTok()
    fake.script("/api/v2/token/get", token_answer(1700604800, 1209600))
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as http:
        oauth = TikTokOAuth(
            http,
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            auth_base_url="https://auth.test/",
            wall_clock=FakeWall(),
        )
        got = await oauth.get_token("CODE")
    request = fake.requests[0]
    assert request.method == "GET" and request.url.path == "/api/v2/token/get"
    assert dict(request.url.params) == {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "auth_code": "CODE",
        "grant_type": "authorized_code",
    }
    assert got == TikTokTokens(
        access_token="ROW_x",
        access_expires_at=1700604800,
        refresh_token="ROW_y",
        refresh_expires_at=NOW_S + 1209600,
        open_id="abc",
        seller_name="My Shop",
        seller_base_region="US",
    )


async def test_bad_auth_code_and_unusable_answers() -> None:
    fake = FakeTikTok()
    fake.script(
        "/api/v2/token/get",
        envelope(code=36004004, message="auth code expired"),
        envelope({"access_token": "only-one"}),
        httpx.Response(503, content=b"down"),
    )
    store = MemoryTokenStore()
    async with open_fake_client(fake, store=store) as client:
        with pytest.raises(TikTokAuthError, match="auth code expired"):
            await client.authorize("new-shop", "CODE")
        with pytest.raises(TikTokError, match="usable tokens"):
            await client.authorize("new-shop", "CODE")
        with pytest.raises(TikTokUnavailable):
            await client.authorize("new-shop", "CODE")
        assert await store.load("new-shop") is None
        await client.authorize("new-shop", "CODE")
    saved = await store.load("new-shop")
    assert saved is not None and (saved.access_token, saved.refresh_token) == ("AT100", "RT100")


async def test_proactive_refresh_when_less_than_a_day_is_left() -> None:
    fake, store = FakeTikTok(), MemoryTokenStore()
    await store.save(SHOP_ID, tokens(expires_in=DAY - 1))
    async with open_fake_client(fake, store=store) as client:
        await client.get_orders(SHOP_ID, ["1"])
        await client.get_orders(SHOP_ID, ["2"])
    assert fake.refreshes == 1
    refresh = next(r for r in fake.requests if r.url.path == REFRESH)
    assert refresh.url.params["grant_type"] == "refresh_token"
    assert refresh.url.params["refresh_token"] == "RT0"
    assert [r.headers["x-tts-access-token"] for r in fake.api_requests()] == ["AT1"] * 3
    saved = await store.load(SHOP_ID)
    assert saved is not None and (saved.access_token, saved.refresh_token) == ("AT1", "RT1")


async def test_no_refresh_while_more_than_a_day_is_left() -> None:
    fake = FakeTikTok()
    async with open_fake_client(fake, initial=tokens(expires_in=DAY + 1)) as client:
        await client.get_orders(SHOP_ID, ["1"])
    assert fake.refreshes == 0


async def test_105002_refreshes_then_the_call_succeeds() -> None:
    fake, wall = FakeTikTok(), FakeWall()
    async with open_fake_client(fake, wall=wall) as client:
        await client.get_authorized_shops(SHOP_ID)
        fake.valid_tokens.clear()  # TikTok expired AT0 early
        orders = await client.get_orders(SHOP_ID, ["1"])
    assert [o.id for o in orders] == ["1"]
    assert fake.refreshes == 1
    sent = [r.headers["x-tts-access-token"] for r in fake.api_requests(ORDERS)]
    assert sent == ["AT0", "AT1"]


async def test_105002_after_a_refresh_gives_up() -> None:
    fake = FakeTikTok()
    fake.script(ORDERS, *[envelope(code=105002, message="expired", status=401)] * 2)
    async with open_fake_client(fake) as client:
        with pytest.raises(TikTokTokenExpired):
            await client.get_orders(SHOP_ID, ["1"])
    assert fake.refreshes == 1
    assert len(fake.api_requests(ORDERS)) == 2


async def test_concurrent_callers_share_one_refresh() -> None:
    fake, wall = FakeTikTok(), FakeWall()
    results: list[int] = []
    async with open_fake_client(fake, wall=wall) as client:
        await client.get_authorized_shops(SHOP_ID)
        wall.now_s += 6 * DAY + 1  # less than a day left: due for a refresh
        fake.refresh_gate = anyio.Event()

        async def one(i: int) -> None:
            results.append(len(await client.get_orders(SHOP_ID, [str(i)])))

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, i)
            await wait_all_tasks_blocked()
            refreshes_in_flight = fake.refreshes
            fake.refresh_gate.set()
    assert refreshes_in_flight == 1  # one refresh in flight, nine callers waiting on it
    assert results == [1] * 10
    assert fake.refreshes == 1
    assert {r.headers["x-tts-access-token"] for r in fake.api_requests(ORDERS)} == {"AT1"}


async def test_concurrent_105002_share_one_refresh() -> None:
    fake = FakeTikTok()
    fake.refresh_gate = anyio.Event()
    async with open_fake_client(fake) as client:
        await client.get_authorized_shops(SHOP_ID)
        fake.valid_tokens.clear()
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(client.get_orders, SHOP_ID, [str(i)])
            await wait_all_tasks_blocked()
            fake.refresh_gate.set()
    assert fake.refreshes == 1


class FlakyStore(MemoryTokenStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_saves = 0

    async def save(self, shop_key: str, tokens: TikTokTokens) -> None:
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreUnavailable("disk on fire")
        await super().save(shop_key, tokens)


async def test_tokens_are_saved_both_or_neither() -> None:
    fake, store = FakeTikTok(), FlakyStore()
    old = tokens(expires_in=60)
    await store.save(SHOP_ID, old)
    async with open_fake_client(fake, store=store) as client:
        # A refresh answer without a refresh token: nothing is saved, the old pair stays.
        fake.script(REFRESH, envelope({"access_token": "AT9", "access_token_expire_in": 1}))
        await client.get_authorized_shops(SHOP_ID)  # old token still valid: used
        assert await store.load(SHOP_ID) == old
        # The store fails while saving a good pair: the old pair stays whole, the new one is
        # used from memory and saved on the next call.
        store.fail_saves = 1
        await client.get_orders(SHOP_ID, ["1"])
        assert await store.load(SHOP_ID) == old
        await client.get_orders(SHOP_ID, ["2"])
    saved = await store.load(SHOP_ID)
    assert saved is not None and (saved.access_token, saved.refresh_token) == ("AT1", "RT1")
    assert fake.refreshes == 1
    sent = [r.headers["x-tts-access-token"] for r in fake.api_requests()]
    assert sent == ["AT0", "AT1", "AT1"]


async def test_refresh_failure_falls_back_only_while_the_token_is_valid() -> None:
    fake, wall = FakeTikTok(), FakeWall()
    fake.script(REFRESH, httpx.Response(503))
    async with open_fake_client(
        fake, wall=wall, initial=tokens(expires_in=60), max_retries=0
    ) as client:
        await client.get_authorized_shops(SHOP_ID)  # refresh failed, AT0 still valid: used
        assert fake.api_requests()[-1].headers["x-tts-access-token"] == "AT0"
        fake.script(REFRESH, httpx.Response(503))
        wall.now_s += 61
        with pytest.raises(TikTokUnavailable):
            await client.get_orders(SHOP_ID, ["2"])
        await client.get_orders(SHOP_ID, ["3"])  # the next refresh works
    assert fake.refreshes == 1  # the scripted failures do not count as refreshes
    assert fake.api_requests()[-1].headers["x-tts-access-token"] == "AT1"


async def test_expired_refresh_token_and_missing_tokens_need_reauthorization() -> None:
    fake, store = FakeTikTok(), MemoryTokenStore()
    dead = TikTokTokens(
        access_token="AT0",
        access_expires_at=NOW_S - 1,
        refresh_token="RT0",
        refresh_expires_at=NOW_S - 1,
    )
    await store.save(SHOP_ID, dead)
    async with open_fake_client(fake, store=store) as client:
        with pytest.raises(TikTokAuthError, match="re-authorize"):
            await client.get_orders(SHOP_ID, ["1"])
        with pytest.raises(TikTokAuthError, match="no tokens"):
            await client.get_authorized_shops("unknown")
    assert fake.refreshes == 0


async def test_shop_not_covered_by_its_token() -> None:
    fake = FakeTikTok()
    fake.shops = [{"id": "someone-else", "cipher": "ROW_z"}]
    async with open_fake_client(fake) as client:
        with pytest.raises(TikTokAuthError, match="not among"):
            await client.get_orders(SHOP_ID, ["1"])


async def test_memory_token_store_is_bounded() -> None:
    store = MemoryTokenStore(max_shops=1)
    await store.save("a", tokens())
    await store.save("a", tokens(access="AT5"))
    with pytest.raises(StoreError, match="full"):
        await store.save("b", tokens())
    assert len(store) == 1
    with pytest.raises(ValueError, match="max_shops"):
        MemoryTokenStore(max_shops=0)
