"""Settings of the Karrio gateway; the ``[shipping]`` config section fills them."""

from __future__ import annotations

from typing import Final

import msgspec

from creatorflow.config import ShippingConfig
from creatorflow.errors import ConfigError

__all__ = ["KarrioSettings"]

#: Largest page asked of a list endpoint.
_MAX_PAGE: Final = 100


class KarrioSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the Karrio gateway; units in the names.

    Attributes:
        base_url: Karrio's root, e.g. ``http://127.0.0.1:5002`` (routes are ``/v1/...``).
        api_key: sent as ``Authorization: Token <api_key>``.
        timeout_s: per HTTP request (connect, read, write, pool): a safety net; callers
            set their own deadlines.
        max_response_bytes: larger answers are refused (a PDF label is ~230 KB of JSON).
        max_connections: open connections to Karrio at most.
        find_page_size: shipments asked per page by the ``find_*`` lookups (1-100).
        find_max_pages: pages read at most by ``find_by_reference``.

    Raises:
        ValueError: an empty ``base_url`` or a value out of range.
    """

    base_url: str
    api_key: str
    timeout_s: float = 10.0
    max_response_bytes: int = 8 * 1024 * 1024
    max_connections: int = 100
    find_page_size: int = 50
    find_max_pages: int = 4

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if self.timeout_s <= 0 or self.max_response_bytes < 64 * 1024:
            raise ValueError("timeout_s must be > 0 and max_response_bytes >= 65536")
        if not 1 <= self.find_page_size <= _MAX_PAGE or not 1 <= self.find_max_pages <= 100:
            raise ValueError(f"find_page_size must be 1..{_MAX_PAGE}, find_max_pages 1..100")
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")

    @classmethod
    def from_config(cls, config: ShippingConfig, *, base_url: str = "") -> KarrioSettings:
        """Settings from the ``[shipping]`` section.

        ``base_url`` overrides ``shipping.base_url``: an empty one means "the built-in
        sandbox", so the app passes the sandbox's URL then.

        Raises:
            ConfigError: no URL either way, or a bad value.
        """
        url = base_url or config.base_url
        if not url:
            raise ConfigError("config: shipping.base_url: empty (sandbox) and no sandbox URL")
        try:
            return cls(
                base_url=url,
                api_key=config.api_key,
                timeout_s=config.timeout_s,
                max_response_bytes=config.max_response_bytes,
            )
        except ValueError as exc:
            raise ConfigError(f"config: shipping: {exc}") from None

    def __repr__(self) -> str:  # never print the key
        return f"KarrioSettings(base_url={self.base_url!r}, timeout_s={self.timeout_s!r})"
