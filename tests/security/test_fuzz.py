"""Fuzzing the service's edges with hypothesis (issue 10): webhooks and API bodies.

One real service (uvicorn on uvloop, SQLite, the built-in sandboxes) takes every example of a
test. Asserted after each example: no 5xx but ``500 store_refused`` (the documented answer when
the store refuses a row), every error a JSON ``{"error", "detail"}``, and the service alive
(``/healthz`` answers). At the end: no actor was restarted (a crash is a bug) and the service
is still ready.

Bounded for ``make test`` (``CREATORFLOW_FUZZ_EXAMPLES``, default 60 per test); the long run is
``python -m bench.fuzz --seconds 600`` (figures in bench/RESULTS.md).
"""

from __future__ import annotations

import os
import string
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.from_thread
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creatorflow.app import open_service
from helpers import API, make_config, signed_headers

EXAMPLES = int(os.environ.get("CREATORFLOW_FUZZ_EXAMPLES", "60"))
#: ``bench.fuzz`` reads the tally of answers from this file (JSON), when set.
REPORT = os.environ.get("CREATORFLOW_FUZZ_REPORT")
TALLY: Counter[str] = Counter()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("CREATORFLOW_FUZZ_SEED") is None,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of one real service (uvicorn on uvloop), run by a portal thread, shared by the
    tests of this module (hypothesis drives plain functions; the service is real HTTP)."""
    backend = ("asyncio", {"use_uvloop": True})
    config = make_config(Path(tmp_path_factory.mktemp("fuzz")), backend)
    with (
        anyio.from_thread.start_blocking_portal(*backend) as portal,
        portal.wrap_async_context_manager(open_service(config)) as service,
        httpx.Client(base_url=service.url, timeout=10.0) as c,
    ):
        yield c


# ------------------------------------------------------------------ strategies

#: Integers around every boundary that matters: 32/64-bit limits, money, quantities.
edge_ints = st.one_of(
    st.integers(),
    st.sampled_from(
        [0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**9 + 1]
    ),
)
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable, max_size=300),
    st.sampled_from(
        ["", ".", "..", " ", "\u202e", "a\x00b", "\ud7ff", "x" * 129, "1e30", "-0", "NaN"]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), edge_ints, st.floats(), nasty_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)
    ),
    max_leaves=20,
)


def field(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field value: mostly of the expected kind, sometimes anything."""
    return st.one_of(values, values, json_values)


ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=40)
statuses = st.sampled_from(["UNPAID", "AWAITING_SHIPMENT", "CANCEL", "CANCELLED", "DELIVERED"])
well_formed = st.fixed_dictionaries(
    {
        "type": st.integers(0, 50),
        "tts_notification_id": ids,
        "shop_id": st.just("7490000000000000001"),
        "timestamp": st.integers(0, 2**40),
        "data": st.fixed_dictionaries(
            {"order_id": ids, "order_status": statuses, "update_time": st.integers(0, 2**40)},
            optional={"is_on_hold_order": st.booleans()},
        ),
    }
)


def _replace(doc: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if key.startswith("data."):
        return doc | {"data": doc["data"] | {key[5:]: value}}
    return doc | {key: value}


FIELDS = ("type", "timestamp", "tts_notification_id", "shop_id", "seller_open_id", "data")
FIELDS += ("data.order_id", "data.order_status", "data.update_time", "extra")

#: A good envelope with one field made hostile, or anything at all.
envelopes = st.one_of(
    well_formed,
    st.builds(
        _replace,
        well_formed,
        st.sampled_from(FIELDS),
        st.one_of(edge_ints, nasty_text, json_values),
    ),
    st.dictionaries(nasty_text, json_values, max_size=6),
)


def encode(value: Any) -> bytes:
    try:
        return msgspec.json.encode(value)
    except (TypeError, OverflowError, UnicodeEncodeError, msgspec.EncodeError):
        return repr(value).encode("utf-8", "surrogatepass")  # not JSON: a body all the same


# ------------------------------------------------------------------ the checks


def check(response: httpx.Response) -> None:
    """No 5xx but store_refused; every error names itself."""
    status = response.status_code
    TALLY[f"{response.request.url.path.split('/')[1]} {status}"] += 1
    if status in (400, 408, 431) and "json" not in response.headers.get("content-type", ""):
        return  # the HTTP server refused a malformed request before the app saw it
    if status >= 400 and response.request.method != "HEAD":
        payload = response.json()
        assert set(payload) >= {"error", "detail"}, payload
        if status >= 500:
            assert (status, payload["error"]) == (500, "store_refused"), payload


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if REPORT:
        Path(REPORT).write_bytes(msgspec.json.encode(dict(TALLY)))


def alive(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200


def nobody_crashed(client: httpx.Client) -> None:
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").text
    restarts = [
        line
        for line in metrics.splitlines()
        if line.startswith("creatorflow_supervisor_restarts_total{") and not line.endswith(" 0.0")
    ]
    assert restarts == []


# ------------------------------------------------------------------ webhooks


def test_fuzz_signed_webhooks(client: httpx.Client) -> None:
    @FUZZ
    @given(doc=envelopes, raw=st.booleans(), tail=st.binary(max_size=32))
    def one(doc: dict[str, Any], raw: bool, tail: bytes) -> None:
        body = encode(doc) + (tail if raw else b"")
        response = client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
        check(response)
        alive(client)

    one()
    nobody_crashed(client)


def test_fuzz_webhook_headers(client: httpx.Client) -> None:
    body = b'{"type":1,"tts_notification_id":"h","timestamp":1,"data":{}}'

    @FUZZ
    @given(
        signature=st.one_of(st.text(alphabet=string.hexdigits, max_size=70), nasty_text),
        content_type=st.one_of(st.just("application/json"), nasty_text),
    )
    def one(signature: str, content_type: str) -> None:
        headers = {"authorization": signature, "content-type": content_type}
        try:
            response = client.post("/webhooks/tiktok", content=body, headers=headers)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return  # a header value the client itself refuses to send
        check(response)
        assert response.status_code in (400, 401, 415), response.text

    one()
    nobody_crashed(client)


# ------------------------------------------------------------------ API bodies

sku_paths = st.one_of(
    st.sampled_from(["MUG-RED", "TEE/RED/L", "x" * 128]),
    nasty_text.filter(bool),
)
api_requests = st.one_of(
    st.tuples(
        st.just("PUT"),
        sku_paths.map(lambda s: f"/api/inventory/{quote(s, safe='')}"),
        st.fixed_dictionaries(
            {},
            optional={
                "on_hand": field(edge_ints),
                "safety_buffer": field(edge_ints),
                "reason": field(nasty_text),
                "tiktok": json_values,
            },
        ),
    ),
    st.tuples(
        st.just("POST"),
        sku_paths.map(lambda s: f"/api/inventory/{quote(s, safe='')}/adjustments"),
        st.fixed_dictionaries(
            {"delta": field(edge_ints), "reason": field(nasty_text)},
            optional={"extra": json_values},
        ),
    ),
    st.tuples(
        st.just("POST"),
        st.just("/api/content-metrics"),
        st.one_of(
            st.fixed_dictionaries(
                {
                    "sku": field(nasty_text),
                    "video_id": field(nasty_text),
                    "views": field(edge_ints),
                },
                optional={"at_ms": field(edge_ints), "likes": field(edge_ints)},
            ),
            st.lists(json_values, max_size=3),
        ),
    ),
    st.tuples(
        st.just("POST"),
        st.sampled_from(["hold", "release", "retry"]).map(lambda a: f"/api/orders/1/{a}"),
        st.one_of(st.fixed_dictionaries({"reason": field(nasty_text)}), json_values),
    ),
    st.tuples(
        st.just("GET"),
        st.tuples(nasty_text, nasty_text, nasty_text).map(
            lambda q: f"/api/orders?state={quote(q[0])}&limit={quote(q[1])}&cursor={quote(q[2])}"
        ),
        st.none(),
    ),
    st.tuples(
        st.just("GET"),
        st.tuples(sku_paths, nasty_text).map(
            lambda q: f"/api/inventory/{quote(q[0], safe='')}?history={quote(q[1])}"
        ),
        st.none(),
    ),
    st.tuples(
        st.just("POST"),
        st.just("/api/tiktok/authorize"),
        st.fixed_dictionaries({"auth_code": field(nasty_text), "shop_key": field(nasty_text)}),
    ),
    st.tuples(
        st.just("POST"),
        st.just("/sandbox/tiktok/orders"),
        st.fixed_dictionaries(
            {
                "lines": field(
                    st.lists(
                        st.fixed_dictionaries(
                            {"seller_sku": field(nasty_text)},
                            optional={
                                "quantity": field(st.integers(-2, 3)),
                                "sale_price": field(nasty_text),
                            },
                        ),
                        max_size=3,
                    )
                )
            },
            optional={"status": field(nasty_text), "buyer_message": field(nasty_text)},
        ),
    ),
)


def test_fuzz_api_bodies(client: httpx.Client) -> None:
    @FUZZ
    @given(request=api_requests, key=st.one_of(st.none(), nasty_text))
    def one(request: tuple[str, str, Any], key: str | None) -> None:
        method, path, body = request
        headers = API | {"content-type": "application/json"}
        if key is not None:
            headers["idempotency-key"] = key
        content = None if body is None else encode(body)
        try:
            response = client.request(method, path, content=content, headers=headers)
        except (httpx.LocalProtocolError, httpx.InvalidURL, UnicodeEncodeError):
            return  # a request the client itself refuses to send
        check(response)
        alive(client)

    one()
    nobody_crashed(client)
