"""TikTok Shop API request signing (reference §3.2). Pure functions, no I/O.

``sign = hex(HMAC-SHA256(app_secret, app_secret + path + sorted(k + v) + body + app_secret))``
over every query parameter except ``sign`` and ``access_token``; the body is the exact bytes sent
(nothing for a GET or a multipart upload). Used by the client to sign and by the sandbox to verify.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

#: Query parameters that never take part in the signature.
UNSIGNED_PARAMS: Final = frozenset({"sign", "access_token"})


def string_to_sign(path: str, query: Mapping[str, str], body: bytes = b"") -> bytes:
    """The message before wrapping: path, then ``key + value`` sorted by key, then the body."""
    parts = [path.encode()]
    for key in sorted(k for k in query if k not in UNSIGNED_PARAMS):
        parts.append(key.encode())
        parts.append(str(query[key]).encode())
    parts.append(body)
    return b"".join(parts)


def sign_request(app_secret: str, path: str, query: Mapping[str, str], body: bytes = b"") -> str:
    """The ``sign`` query parameter for a request (lowercase hex)."""
    secret = app_secret.encode()
    wrapped = secret + string_to_sign(path, query, body) + secret
    return hmac.new(secret, wrapped, hashlib.sha256).hexdigest()


def verify_request(
    app_secret: str, path: str, query: Mapping[str, str], body: bytes, given: str
) -> bool:
    """Whether ``given`` is the right ``sign`` for the request (constant-time comparison)."""
    expected = sign_request(app_secret, path, query, body)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
