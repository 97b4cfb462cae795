"""Request signing against the reference's vectors (§3.2)."""

from __future__ import annotations

from creatorflow.adapters.tiktok.signing import sign_request, string_to_sign, verify_request


def test_official_get_vector() -> None:
    query = {"app_key": "29a39d", "timestamp": "1623812664"}
    path = "/authorization/202309/shops"
    assert (
        string_to_sign(path, query)
        == b"/authorization/202309/shopsapp_key29a39dtimestamp1623812664"
    )
    assert (
        sign_request("e59af819cc", path, query)
        == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    )


def test_post_vector_with_body_and_cipher() -> None:
    body = (
        b'{"skus":[{"id":"1729000000000000002","inventory":[{"warehouse_id":"7000000000000000003",'
        b'"quantity":12}]}]}'
    )
    query = {"timestamp": "1700000000", "shop_cipher": "ROW_abc", "app_key": "myappkey"}
    path = "/product/202309/products/1729000000000000001/inventory/update"
    assert (
        sign_request("s3cr3t", path, query, body)
        == "2311fc692c2848f8b301ed7638ca4da98df441d0b57e3b5d03fd2db6630e1c7c"
    )


def test_sign_and_access_token_are_not_signed() -> None:
    base = {"app_key": "k", "timestamp": "1"}
    noisy = base | {"sign": "whatever", "access_token": "tok"}
    assert sign_request("s", "/p", base) == sign_request("s", "/p", noisy)


def test_verify() -> None:
    query = {"app_key": "k", "timestamp": "1"}
    good = sign_request("s", "/p", query, b"{}")
    assert verify_request("s", "/p", query, b"{}", good)
    assert verify_request("s", "/p", query, b"{}", good.upper())
    assert not verify_request("s", "/p", query, b"{ }", good)  # body re-serialised
    assert not verify_request("other", "/p", query, b"{}", good)
