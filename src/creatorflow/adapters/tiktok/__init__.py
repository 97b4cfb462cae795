"""TikTok Shop Open API adapter: signing, OAuth, the API client and an in-memory token store.

Open the client with :func:`open_tiktok_client`; the records it returns (``TikTokOrder``, …)
and the :class:`~creatorflow.ports.TokenStore` port live in :mod:`creatorflow.ports`.
"""

from creatorflow.adapters.tiktok._types import CallObserved
from creatorflow.adapters.tiktok.client import MAX_ORDER_IDS, TikTokClient, open_tiktok_client
from creatorflow.adapters.tiktok.oauth import TikTokOAuth
from creatorflow.adapters.tiktok.settings import TikTokClientSettings
from creatorflow.adapters.tiktok.tokens import MemoryTokenStore, StoreTokenStore

__all__ = [
    "MAX_ORDER_IDS",
    "CallObserved",
    "MemoryTokenStore",
    "StoreTokenStore",
    "TikTokClient",
    "TikTokClientSettings",
    "TikTokOAuth",
    "open_tiktok_client",
]
