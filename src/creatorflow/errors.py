"""The one error tree of CreatorFlow.

::

    CreatorFlowError
    ├── DomainError                  pure-logic refusal; never retried
    │   ├── InvalidTransition        state machine refused a transition
    │   ├── InvalidOrder             a TikTok order payload cannot become an Order
    │   └── InvalidAmount            a money string is malformed, negative, too precise or too big
    │       └── UnknownCurrency      no ISO 4217 exponent known for the currency code
    ├── AdapterError                 an edge (store, cache, HTTP API) failed; ``retryable`` says
    │   ├── StoreUnavailable         store cannot be reached or is locked (retryable)
    │   ├── StoreError               store refused the operation (bug or bad data; not retryable)
    │   ├── CacheUnavailable         cache cannot be reached (retryable; callers degrade)
    │   ├── TikTokError              TikTok Shop API refused or failed a call (code, request_id)
    │   │   ├── TikTokUnavailable    5xx, timeout, connection failure, 36009003/07, 11001027,
    │   │   │                        21001003 (retryable; re-read before repeating a write)
    │   │   ├── TikTokRateLimited    429 / 36009002; ``retry_after_s`` (retryable)
    │   │   ├── TikTokAuthError      token missing/invalid/revoked, scope missing: re-authorize
    │   │   │   └── TikTokTokenExpired  105002 still failing after one refresh
    │   │   ├── TikTokRequestRejected   106001 sign, 106013, 36009004/09/10/…, 21011028: a bug
    │   │   │                        or config
    │   │   └── TikTokFulfillmentRefused  a ship/mark/update refused for the order's state:
    │   │       │                    a human looks (update window passed: 21011049-52)
    │   │       ├── TikTokAlreadyShipped  re-read: ours → success, else alert
    │   │       ├── TikTokOrderClosed     stop
    │   │       │   ├── TikTokOrderDelivered  21011027
    │   │       │   └── TikTokOrderCancelled  21011041/42: void the label
    │   │       ├── TikTokAfterSalePending    21011007, 21008044: hold, alert
    │   │       ├── TikTokTrackingRejected    unmatchable, bad characters, provider mismatch
    │   │       │   └── TikTokTrackingDuplicate  used elsewhere / too often: never reuse
    │   │       ├── TikTokWrongFlow           platform-fulfilled, several packages, not shipped
    │   │       │   └── TikTokWrongRegion     21008106: use Ship Package
    │   │       └── TikTokNoShippingProviders 21008116/17: delivery option has none for us
    │   └── CarrierError             the carrier gateway (Karrio) refused or failed a call
    │       ├── CarrierRejected      400/406/422: bad address, parcel, rate id; never accepted
    │       ├── CarrierAuthError     401/403: the gateway's API key is missing or wrong
    │       ├── CarrierNotFound      404: unknown shipment or tracker, no active carrier
    │       ├── CarrierStateError    409 state_error: bought already, too late to cancel
    │       ├── AllCarriersFailed    424: every carrier asked failed (``failures``; retryable)
    │       ├── CarrierRateLimited   429; ``retry_after_s`` (retryable)
    │       └── CarrierUnavailable   5xx, timeout, connection, unreadable answer (retryable;
    │                                ``maybe_applied``: look the shipment up before a retry)
    ├── RuntimeFault                 the actor runtime
    │   ├── MailboxFull              ``tell_nowait``/``ask_nowait`` on a full mailbox (shed load)
    │   ├── ActorStopped             the target is stopped for good; nothing more is accepted
    │   ├── ActorCrashed             the actor crashed while holding the message you asked about
    │   ├── RestartIntensityExceeded a supervisor gave up on its children and escalates
    │   └── CircuitOpen              a circuit breaker refuses calls for now (``retry_after_s``)
    ├── WebhookRejected              ingress refused a request (carries the HTTP status)
    └── ConfigError                  bad configuration; start-up stops with one clear line
        └── InvalidRules             the seller's automation rules file (names rule and field)

Driver exceptions (sqlite3, asyncpg, redis, httpx) never leave ``adapters/``: each
adapter translates them at its boundary and chains the original (``raise X from exc``).
"""

from __future__ import annotations


class CreatorFlowError(Exception):
    """Base of every error CreatorFlow raises on purpose."""


# --------------------------------------------------------------------------- domain


class DomainError(CreatorFlowError):
    """Raised by pure domain logic when a rule refuses an operation. Never retried."""


class InvalidTransition(DomainError):
    """Raised by the order state machine for a transition it does not list."""


class InvalidOrder(DomainError):
    """Raised by ``domain.order.order_from_tiktok`` for a payload it cannot read.

    A missing ``id``/``status``, a wrong type or a bad amount; the message names the order
    (when known) and the field. Retrying the same payload fails the same way.
    """


class InvalidAmount(DomainError):
    """Raised by ``domain.money`` for a malformed, negative, too precise or too large amount."""


class UnknownCurrency(InvalidAmount):
    """Raised by ``domain.money`` for a currency code with no known minor-unit exponent."""


class InventoryRefused(DomainError):
    """Raised for a stock change the inventory rules refuse (``domain.inventory``).

    ``code`` names the rule for API clients: ``below_reserved`` (on hand would drop below what
    is reserved), ``negative`` (on hand would go below zero), ``too_large`` (on hand would go
    over ``domain.inventory.MAX_ON_HAND``), ``bad_quantity`` (a quantity < 1 where one is
    needed), ``closed`` (the reservation was already committed or released).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# --------------------------------------------------------------------------- adapters


class AdapterError(CreatorFlowError):
    """Raised by an adapter when its external system fails.

    ``retryable`` tells callers whether the same call may succeed later.
    """

    retryable: bool = False


class StoreUnavailable(AdapterError):
    """Raised by a store adapter when the database cannot be reached, is locked or timed out."""

    retryable = True


class StoreError(AdapterError):
    """Raised by a store adapter when the database refused an operation (constraint, SQL bug).

    Unlike :class:`StoreUnavailable`, retrying the same operation will fail again.
    """


class CacheUnavailable(AdapterError):
    """Raised by a cache adapter when the cache cannot be reached; callers treat it as a miss."""

    retryable = True


class TikTokError(AdapterError):
    """Raised by the TikTok Shop client when a call failed; not retryable unless a subclass says.

    Plain ``TikTokError`` is an endpoint's own business refusal (order not found, not
    shippable, …) or a response we could not read. ``code`` is TikTok's envelope code (``-1``
    when there was none), ``http_status`` the HTTP status (``0`` when no answer came).
    """

    def __init__(
        self, message: str, *, code: int = -1, http_status: int = 0, request_id: str = ""
    ) -> None:
        super().__init__(f"tiktok: {message} (code {code}, http {http_status}, {request_id!r})")
        self.code = code
        self.http_status = http_status
        self.request_id = request_id
        self.detail = message


class TikTokUnavailable(TikTokError):
    """Raised by the TikTok client on 5xx, timeouts, connection failures and the internal
    error / timeout codes (36009003, 36009007, 11001027, 21001003).

    ``maybe_applied`` is True when the request may have reached TikTok (a write may have taken
    effect): only idempotent calls are retried then. A connection that never opened is False.
    """

    retryable = True
    maybe_applied: bool = True


class TikTokRateLimited(TikTokError):
    """Raised by the TikTok client on HTTP 429 / code 36009002 once its retries are used up.

    ``retry_after_s`` is the server's ``Retry-After`` (None when absent). The request was not
    processed, so retrying is safe for every call.
    """

    retryable = True
    retry_after_s: float | None = None


class TikTokAuthError(TikTokError):
    """Raised by the TikTok client when the shop's tokens cannot be used: none stored, invalid
    (105001, 101000), missing scope (105005), auth code or refresh token refused (36004004).

    Not retryable: the seller has to re-authorize (or the configuration is wrong).
    """


class TikTokTokenExpired(TikTokAuthError):
    """Raised by the TikTok client when TikTok says 105002 (access token expired) even after a
    token refresh; the client refreshes and retries once by itself before raising this."""


class TikTokRequestRejected(TikTokError):
    """Raised by the TikTok client for a request TikTok will never accept as sent: bad sign
    (106001), missing cipher (106013), gateway checks (36009004), bad path/method/body. A bug
    or a configuration error; never retried."""


class TikTokFulfillmentRefused(TikTokError):
    """Raised by the TikTok client when a fulfillment call (ship, mark shipped, update shipping
    info, shipping providers) is refused because of the order's or package's state
    (reference shipping-apis §2.7). Never retried as is: each subclass says what to do.

    A plain instance needs a human: the tracking update window passed or its count is used
    up (21011049-21011052).
    """


class TikTokAlreadyShipped(TikTokFulfillmentRefused):
    """Raised by the TikTok client when the order or package is shipped already (21011006,
    21011020, 21042056, 21008099, 11006021, 21011040). Re-read the order: success when our
    tracking number is on it, else someone shipped it with another one (alert)."""


class TikTokOrderClosed(TikTokFulfillmentRefused):
    """Raised by the TikTok client when the order is past shipping for good: stop."""


class TikTokOrderDelivered(TikTokOrderClosed):
    """Raised by the TikTok client when the order is delivered already (21011027)."""


class TikTokOrderCancelled(TikTokOrderClosed):
    """Raised by the TikTok client when the order is cancelled (21011041, 21011042): stop and
    void the label."""


class TikTokAfterSalePending(TikTokFulfillmentRefused):
    """Raised by the TikTok client when an after-sale (cancel/return) request is pending on the
    order (21011007, 21008044): hold the shipment and alert; try again once it is settled."""


class TikTokTrackingRejected(TikTokFulfillmentRefused):
    """Raised by the TikTok client when the tracking number cannot be accepted: it matches no
    provider, has bad characters, or does not fit the provider sent (11028006, 21004012,
    21004015, 21004016, 21022032). Fix the carrier mapping; alert."""


class TikTokTrackingDuplicate(TikTokTrackingRejected):
    """Raised by the TikTok client when the tracking number is on another order already, or
    was used too often (21011025, 21034012, 21011026). Alert; never send that number again."""


class TikTokWrongFlow(TikTokFulfillmentRefused):
    """Raised by the TikTok client when the call does not fit the order: platform-fulfilled or
    not seller-shipped (21008025, 21011004), several shippable packages (21011048: send the
    line item ids), an update of an order not shipped yet (21011043)."""


class TikTokWrongRegion(TikTokWrongFlow):
    """Raised by the TikTok client when the endpoint is not offered in the shop's region
    (21008106): Mark Package As Shipped outside US/EMEA/JP; use Ship Package."""


class TikTokNoShippingProviders(TikTokFulfillmentRefused):
    """Raised by the TikTok client's Get Shipping Providers when the delivery option has none
    the seller can use: no subscription to it (21008116) or fulfilled by TikTok (21008117)."""


class SupplierError(AdapterError):
    """Raised by a supplier adapter when a call failed.

    ``retryable`` is True for outages (5xx, timeouts, connection failures, 429): the same call
    with the same idempotency key may be repeated. False for a refusal (unknown SKU, bad
    quantity): repeating it fails again. ``status`` is the HTTP status (0 when none came).
    """

    def __init__(self, message: str, *, retryable: bool, status: int = 0) -> None:
        super().__init__(f"supplier: {message} (http {status})")
        self.retryable = retryable
        self.status = status


class CarrierError(AdapterError):
    """Raised by a carrier gateway adapter (``adapters/carriers``) when a call failed.

    Not retryable unless a subclass says. ``carrier`` names the carrier when the gateway
    said which one ("" otherwise), ``status`` is the HTTP status (0 when no answer came),
    ``code`` the gateway's error code (Karrio's ``validation``, ``not_found``,
    ``state_error``, …; "" when none).
    """

    def __init__(self, message: str, *, carrier: str = "", status: int = 0, code: str = "") -> None:
        where = f" [{carrier}]" if carrier else ""
        super().__init__(f"carrier{where}: {message} (http {status}, {code or 'no code'})")
        self.carrier = carrier
        self.status = status
        self.code = code
        self.detail = message


class CarrierRejected(CarrierError):
    """Raised for a request the gateway will never accept as sent (400, 406, 422): a bad
    address or parcel, a rate id or service not available for the shipment. Not retried."""


class CarrierAuthError(CarrierError):
    """Raised on 401/403: the gateway's API key is missing, wrong or lacks the permission.
    A configuration problem (``shipping.api_key``); not retried."""


class CarrierNotFound(CarrierError):
    """Raised on 404: no such shipment or tracker, or no active carrier connection for the
    request. Unlike a lookup that finds nothing (an empty answer), the id itself is unknown."""


class CarrierStateError(CarrierError):
    """Raised on 409 ``state_error``: the shipment cannot do that now (bought already, or too
    late to cancel). For a purchase it means a label exists: look it up, never buy again."""


class AllCarriersFailed(CarrierError):
    """Raised on 424: every carrier the call went to failed (Karrio's ``messages[]``).

    ``failures`` holds ``(carrier, message)`` pairs. Retryable: carriers come back. Differs
    from a rating where *some* carriers failed: that one succeeds with the failures listed.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        failures: tuple[tuple[str, str], ...] = (),
        status: int = 424,
        code: str = "",
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.failures = failures


class CarrierRateLimited(CarrierError):
    """Raised on 429. ``retry_after_s`` is the gateway's ``Retry-After`` (None when absent).
    Nothing was processed, so any call may be repeated after the wait."""

    retryable = True
    retry_after_s: float | None = None


class CarrierUnavailable(CarrierError):
    """Raised on 5xx and 408, timeouts, connection failures, and 2xx answers that cannot be
    read (not JSON, too large, not the expected shape).

    ``maybe_applied`` is True when the request may have reached the gateway: a create or a
    purchase may have happened, so look the shipment up (by ``request_id``) before any
    retry. False only when the connection never opened.
    """

    retryable = True
    maybe_applied: bool = True


# --------------------------------------------------------------------------- runtime


class RuntimeFault(CreatorFlowError):
    """Base of errors raised by the actor runtime."""


class MailboxFull(RuntimeFault):
    """Raised by ``tell_nowait``/``ask_nowait`` when the target mailbox is at capacity.

    The caller sheds load (HTTP 503 + Retry-After) or retries later; ``tell`` would wait instead.
    """

    def __init__(self, actor: str) -> None:
        super().__init__(f"mailbox of {actor!r} is full")
        self.actor = actor


class ActorStopped(RuntimeFault):
    """Raised when sending to, or asking, an actor that has stopped for good.

    Differs from :class:`ActorCrashed`: a stopped actor will not come back; a crashed one is
    restarted by its supervisor, and only the message it held was lost.
    """

    def __init__(self, actor: str) -> None:
        super().__init__(f"actor {actor!r} is stopped")
        self.actor = actor


class ActorCrashed(RuntimeFault):
    """Raised to an ``ask`` caller when the actor crashed while handling that very message."""

    def __init__(self, actor: str, cause: BaseException | None = None) -> None:
        detail = f": {cause!r}" if cause is not None else ""
        super().__init__(f"actor {actor!r} crashed while handling the request{detail}")
        self.actor = actor


class RestartIntensityExceeded(RuntimeFault):
    """Raised by a supervisor whose children crashed more than N times in T seconds.

    The supervisor stops its children and escalates this to its own parent.
    """

    def __init__(self, supervisor: str, restarts: int, within_s: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r}: more than {restarts} restarts within {within_s:g} s"
        )
        self.supervisor = supervisor


class CircuitOpen(RuntimeFault):
    """Raised by :class:`~creatorflow.runtime.CircuitBreaker` (and clients using one) while the
    breaker refuses calls: open, or half-open with its one probe in flight. Nothing was called.

    ``retry_after_s`` is how long until a probe may run. Retryable later, never at once.
    """

    retryable = True

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry in {retry_after_s:.1f} s")
        self.name = name
        self.retry_after_s = retry_after_s


# --------------------------------------------------------------------------- edges


class WebhookRejected(CreatorFlowError):
    """Raised by webhook verification/parsing; ``status`` is the HTTP answer (400/401/413/415)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class ConfigError(CreatorFlowError):
    """Raised at start-up for a bad configuration value; the message names the key."""


class InvalidRules(ConfigError):
    """Raised by ``domain.rules.parse_rules`` for an invalid automation rules file.

    One line naming the file, the rule (1-based index and name) and the field, so start-up
    stops with a message the seller can act on.
    """
