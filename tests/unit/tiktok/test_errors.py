"""Translation of TikTok answers into our error tree (reference §3.3-§3.4)."""

from __future__ import annotations

import httpx
import pytest

from creatorflow.adapters.tiktok._errors import (
    error_for,
    outcome_of,
    parse_retry_after,
    translating_transport,
)
from creatorflow.errors import (
    AdapterError,
    TikTokAuthError,
    TikTokError,
    TikTokRateLimited,
    TikTokRequestRejected,
    TikTokTokenExpired,
    TikTokUnavailable,
)


@pytest.mark.parametrize(
    ("status", "code", "expected", "retryable"),
    [
        (429, 36009002, TikTokRateLimited, True),
        (200, 36009002, TikTokRateLimited, True),
        (429, None, TikTokRateLimited, True),
        (401, 105002, TikTokTokenExpired, False),
        (401, 105001, TikTokAuthError, False),
        (200, 105005, TikTokAuthError, False),
        (200, 101000, TikTokAuthError, False),
        (200, 36004004, TikTokAuthError, False),
        (401, 106001, TikTokRequestRejected, False),
        (200, 106013, TikTokRequestRejected, False),
        (400, 36009004, TikTokRequestRejected, False),
        (404, 36009009, TikTokRequestRejected, False),
        (200, 36009007, TikTokUnavailable, True),
        (503, 36009003, TikTokUnavailable, True),
        (502, None, TikTokUnavailable, True),
        (408, None, TikTokUnavailable, True),
        (200, None, TikTokUnavailable, True),
        (200, 21011002, TikTokError, False),
        (403, None, TikTokAuthError, False),
        (404, None, TikTokRequestRejected, False),
    ],
)
def test_answer_translation(
    status: int, code: int | None, expected: type[TikTokError], retryable: bool
) -> None:
    error = error_for(http_status=status, code=code, message="m", request_id="r", retry_after_s=3)
    assert type(error) is expected
    assert isinstance(error, AdapterError) and error.retryable is retryable
    assert error.http_status == status and error.request_id == "r"
    assert error.code == (-1 if code is None else code)


def test_success_is_no_error_and_rate_limit_keeps_retry_after() -> None:
    assert error_for(http_status=200, code=0, message="Success") is None
    limited = error_for(http_status=429, code=36009002, message="", retry_after_s=4.0)
    assert isinstance(limited, TikTokRateLimited) and limited.retry_after_s == 4.0


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("7", 0.0) == 7.0
    assert parse_retry_after(" 1.5 ", 0.0) == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0.0) is None
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("-3", 0.0) == 0.0


@pytest.mark.parametrize(
    ("exc", "maybe_applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.PoolTimeout("busy"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("reset"), True),
    ],
)
def test_transport_errors_are_chained_unavailable(
    exc: httpx.HTTPError, maybe_applied: bool
) -> None:
    with pytest.raises(TikTokUnavailable) as info, translating_transport("GET /x"):
        raise exc
    assert info.value.__cause__ is exc
    assert info.value.maybe_applied is maybe_applied
    assert outcome_of(info.value) == "unavailable"


def test_outcome_labels() -> None:
    assert outcome_of(None) == "ok"
    assert outcome_of(TikTokRateLimited("x")) == "rate_limited"
    assert outcome_of(TikTokTokenExpired("x")) == "auth"
    assert outcome_of(TikTokRequestRejected("x")) == "rejected"
    assert outcome_of(TikTokError("x")) == "error"
