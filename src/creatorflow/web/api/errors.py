"""The one table from exceptions to the ``/api``'s error answers.

Every error of the API is a JSON body ``{"error": code, "detail": text}`` (:class:`Error`),
plus ``"parameter"`` on a 400 ``invalid_parameter`` and ``"accepted"`` on a content-metrics
503. Handlers raise; :data:`TABLE` decides the answer, looked up along the exception's MRO (the
most specific class listed wins); an exception it does not list is a bug and a 500.

=========================  ======  ======================  ===================================
exception                  status  error                   headers
=========================  ======  ======================  ===================================
:class:`ApiError` family   its     its                     its (below)
  Unauthorized             401     unauthorized            ``WWW-Authenticate: Bearer``
  NotFound                 404     not_found
  MethodNotAllowed         405     method_not_allowed      ``Allow``
  BadParameter             400     invalid_parameter       (+ ``"parameter"``)
  BadBody                  400     bad_body
  Unavailable              503     its (watcher_busy …)    ``Retry-After`` (when it has one)
WebhookRejected            its     its                     the bounded body reader and the
                                                           media-type check: 400 ``too_deep`` /
                                                           ``bad_content_length`` /
                                                           ``disconnected``, 413 ``too_large``,
                                                           415 ``unsupported_media_type``
InventoryRefused           409     its rule's code         ``below_reserved``, ``negative``,
                                                           ``too_large``, ``key_conflict`` …
DomainError                409     invalid_transition
AdapterError               503     store_unavailable       ``Retry-After: 1``
=========================  ======  ======================  ===================================

Actor asks go through :func:`ask_within`, which turns the runtime's answers into API errors
named after the actor: a deadline is ``<actor>_timeout``, a stopped, crashed or full actor
``<actor>_unavailable`` (503 + ``Retry-After: 1``), and the actor's "no such key" a 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

import anyio
import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.errors import (
    AdapterError,
    DomainError,
    InventoryRefused,
    RuntimeFault,
    WebhookRejected,
)

T = TypeVar("T")

#: Seconds a client waits before repeating a request answered 503 (store, actor).
RETRY_AFTER_S: Final = 1

_encode = msgspec.json.Encoder().encode


class Error(msgspec.Struct, kw_only=True):
    """Every error answer of the API."""

    error: str
    detail: str
    #: The query or path parameter refused (400 ``invalid_parameter`` only).
    parameter: str | UnsetType = UNSET
    #: Content metrics taken before the watcher refused more (503 ``watcher_*`` only).
    accepted: int | UnsetType = UNSET


class ApiError(Exception):
    """An error answer decided by the API itself: status, code, detail, headers.

    Raised by handlers and middleware; the subclasses below fix the status and code.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        parameter: str | UnsetType = UNSET,
        accepted: int | UnsetType = UNSET,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.parameter = parameter
        self.accepted = accepted


class Unauthorized(ApiError):
    """Raised for an ``/api`` request without the configured bearer token (401)."""

    def __init__(self) -> None:
        super().__init__(
            401,
            "unauthorized",
            "a valid Authorization: Bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


class NotFound(ApiError):
    """Raised for an unknown route or resource (404 ``not_found``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(404, "not_found", detail)


class MethodNotAllowed(ApiError):
    """Raised for a known path asked with a method it does not serve (405, with ``Allow``)."""

    def __init__(self, method: str, path: str, allow: Iterable[str]) -> None:
        allowed = ", ".join(allow)
        super().__init__(
            405,
            "method_not_allowed",
            f"{method} not allowed on {path} (allowed: {allowed})",
            headers={"Allow": allowed},
        )


class BadParameter(ApiError):
    """Raised for a query or path parameter the API refuses (400 ``invalid_parameter``)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(400, "invalid_parameter", f"{parameter}: {detail}", parameter=parameter)


class BadBody(ApiError):
    """Raised for a request body that does not decode to what the route takes (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "bad_body", detail)


class Unavailable(ApiError):
    """Raised when the work could not be done now (503): a busy or missing actor, an edge.

    ``retry_after_s`` None sends no ``Retry-After`` (nothing will change by waiting).
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        retry_after_s: int | None = RETRY_AFTER_S,
        accepted: int | UnsetType = UNSET,
    ) -> None:
        headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
        super().__init__(503, code, detail, headers=headers, accepted=accepted)


def _own(exc: ApiError) -> ApiError:
    return exc


def _rejected(exc: WebhookRejected) -> ApiError:
    return ApiError(exc.status, exc.code, exc.detail)


def _refused(exc: InventoryRefused) -> ApiError:
    return ApiError(409, exc.code, exc.detail)


def _conflict(exc: DomainError) -> ApiError:
    return ApiError(409, "invalid_transition", str(exc))


def _store(exc: AdapterError) -> ApiError:
    return Unavailable("store_unavailable", str(exc))


#: exception → the answer (see the module docstring). The only place an exception gets a status.
TABLE: Final[Mapping[type[Exception], Callable[[Any], ApiError]]] = {
    ApiError: _own,
    WebhookRejected: _rejected,
    InventoryRefused: _refused,
    DomainError: _conflict,
    AdapterError: _store,
}


def answer_of(exc: BaseException) -> ApiError | None:
    """The answer :data:`TABLE` gives ``exc`` (its most specific listed class), or None."""
    for cls in type(exc).__mro__:
        translate = TABLE.get(cls)
        if translate is not None:
            return translate(exc)
    return None


def error_response(error: ApiError) -> Response:
    """``error`` as the response the client gets."""
    body = Error(
        error=error.code, detail=error.detail, parameter=error.parameter, accepted=error.accepted
    )
    return Response(
        _encode(body), error.status, headers=error.headers, media_type="application/json"
    )


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for every class of :data:`TABLE`."""
    error = answer_of(exc)
    if error is None:  # not listed: Starlette only calls this for the classes listed
        raise exc
    return error_response(error)


async def ask_within(
    timeout_s: float,
    call: Callable[[], Awaitable[T]],
    *,
    actor: str,
    who: str,
    missing: str,
) -> T:
    """``await call()`` (an actor's ``ask``) under a deadline, its failures as API errors.

    Raises:
        NotFound: the actor has no such key (its ``KeyError``), with ``missing`` as detail.
        Unavailable: ``<actor>_timeout`` past ``timeout_s``; ``<actor>_unavailable`` when the
            actor is stopped, crashed on the message or has a full mailbox.
        AdapterError, DomainError: as the actor raised them (the table answers them).
    """
    try:
        with anyio.fail_after(timeout_s):
            return await call()
    except KeyError:
        raise NotFound(missing) from None
    except TimeoutError:
        detail = f"{who} did not answer within {timeout_s} s"
        raise Unavailable(f"{actor}_timeout", detail) from None
    except RuntimeFault as exc:  # ActorStopped / ActorCrashed / MailboxFull
        raise Unavailable(f"{actor}_unavailable", str(exc)) from exc
