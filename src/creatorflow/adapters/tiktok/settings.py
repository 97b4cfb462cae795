"""Settings of one app's TikTok client; the ``[tiktok]`` config section mirrors them."""

from __future__ import annotations

import msgspec

from creatorflow.config import TikTokConfig
from creatorflow.errors import ConfigError

__all__ = ["TIKTOK_AUTH_URL", "TIKTOK_BASE_URL", "TikTokClientSettings"]

#: The real API and auth hosts (reference §0).
TIKTOK_BASE_URL = "https://open-api.tiktokglobalshop.com"
TIKTOK_AUTH_URL = "https://auth.tiktok-shops.com"


class TikTokClientSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one app's client; the ``[tiktok]`` config section mirrors them."""

    app_key: str
    app_secret: str
    base_url: str = TIKTOK_BASE_URL
    auth_base_url: str = TIKTOK_AUTH_URL
    request_timeout_s: float = 10.0
    rate_per_s: float = 5.0
    burst: int = 10
    max_retries: int = 5
    retry_max_wait_s: float = 60.0
    breaker_failures: int = 5
    breaker_failure_rate: float = 0.5
    breaker_min_calls: int = 20
    breaker_window: int = 50
    breaker_open_s: float = 60.0
    refresh_before_s: float = 86_400.0
    max_shops: int = 10_000
    #: Get Shipping Providers answers kept per (shop, delivery option): how long, how many.
    providers_ttl_s: float = 3600.0
    max_provider_lists: int = 4096

    @classmethod
    def from_config(
        cls, config: TikTokConfig, *, app_key: str, app_secret: str, base_url: str = ""
    ) -> TikTokClientSettings:
        """Settings from the ``[tiktok]`` section for one app.

        ``base_url`` overrides the configured one: an empty ``tiktok.base_url`` means "use the
        sandbox", so the app passes the sandbox's URL then.

        Raises:
            ConfigError: neither ``base_url`` nor ``tiktok.base_url`` is set.
        """
        fields = {
            k: v for k, v in msgspec.to_builtins(config).items() if k in cls.__struct_fields__
        }
        fields.update(app_key=app_key, app_secret=app_secret)
        fields["base_url"] = base_url or config.base_url
        if not fields["base_url"]:
            raise ConfigError("config: tiktok.base_url: empty (sandbox) and no sandbox URL given")
        return cls(**fields)
