"""Configuration: shipped defaults < ``--config FILE`` < ``CREATORFLOW_*`` environment.

The defaults live in the structs below and are mirrored, with a comment for every key, in
``config/default.toml`` (a test keeps the two equal). Every value is validated with msgspec at
start-up; a bad value raises :class:`~creatorflow.errors.ConfigError` with one line naming the
key and the problem.

Environment variables: the documented short names (``CREATORFLOW_HTTP_PORT``,
``CREATORFLOW_DATABASE_URL``, …, see ``ENV_ALIASES``) and, for any key,
``CREATORFLOW_<SECTION>__<KEY>`` (``CREATORFLOW_STORE__BATCH_MAX_SIZE=500``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from creatorflow.domain.automation import EMPTY_RULES, RuleSet, load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.domain.shipping import Address, Parcel
from creatorflow.domain.velocity import DetectorSettings
from creatorflow.errors import ConfigError

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]

MASK = "********"


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of config sections: unknown keys are errors, not silently ignored."""


class HttpConfig(Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    max_body_bytes: Positive = 1_048_576
    retry_after_s: Positive = 1
    webhook_timeout_s: PositiveFloat = 2.5
    access_log: bool = False
    # Connection limits (creatorflow.web._limits): deadlines, header cap, connection cap.
    head_timeout_s: PositiveFloat = 10.0
    body_timeout_s: PositiveFloat = 10.0
    body_total_timeout_s: PositiveFloat = 30.0
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 16_384
    max_connections: Positive = 10_000


class ServerConfig(Section):
    kind: Literal["uvicorn", "hypercorn"] = "uvicorn"
    backend: Literal["asyncio", "trio"] = "asyncio"
    use_uvloop: bool = True
    shutdown_grace_s: PositiveFloat = 10.0


class StoreConfig(Section):
    data_dir: str = "./data"
    database_url: str = ""
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    batch_max_size: Positive = 1000
    batch_max_wait_ms: NonNegativeFloat = 1.0
    migrate_on_start: bool = True
    writer_mailbox_size: Positive = 4096
    busy_timeout_ms: Positive = 5000
    pg_pool_min_size: NonNegative = 2
    pg_pool_max_size: Positive = 10
    pg_command_timeout_s: PositiveFloat = 30.0
    pg_connect_timeout_s: PositiveFloat = 5.0
    pg_max_concurrent_commits: Positive = 4


class RuntimeConfig(Section):
    default_mailbox_size: Positive = 1024
    restart_max: NonNegative = 5
    restart_window_s: PositiveFloat = 30.0
    backoff_min_ms: NonNegativeFloat = 10.0
    backoff_max_ms: NonNegativeFloat = 5000.0


class IngressConfig(Section):
    mailbox_size: Positive = 8192
    consumer_mailbox_size: Positive = 8192
    dedupe_cache_size: Positive = 100_000
    pump_page_size: Positive = 500


class TikTokApp(Section):
    app_key: str
    app_secret: str


class TikTokConfig(Section):
    app_key: str = ""
    app_secret: str = ""
    apps: list[TikTokApp] = msgspec.field(default_factory=list)
    secrets_file: str = ""
    base_url: str = ""
    auth_base_url: str = "https://auth.tiktok-shops.com"
    request_timeout_s: PositiveFloat = 10.0
    rate_per_s: PositiveFloat = 5.0
    burst: Positive = 10
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 5
    retry_max_wait_s: Annotated[float, msgspec.Meta(ge=1.0)] = 60.0
    breaker_failures: Positive = 5
    breaker_failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    breaker_min_calls: Positive = 20
    breaker_window: Positive = 50
    breaker_open_s: PositiveFloat = 60.0
    refresh_before_s: NonNegativeFloat = 86400.0
    max_shops: Positive = 10_000
    shop_ids: list[str] = msgspec.field(default_factory=list)


class OrdersConfig(Section):
    scheduler_mailbox_size: Positive = 4096
    sync_mailbox_size: Positive = 8192
    sync_coalesce_ms: NonNegativeFloat = 500.0
    sync_batch_max_webhooks: Positive = 2000
    sync_max_fetches_in_flight: Positive = 4
    sync_max_attempts: Positive = 10
    sync_retry_min_s: PositiveFloat = 1.0
    sync_retry_max_s: PositiveFloat = 60.0
    reconcile_interval_s: PositiveFloat = 60.0
    reconcile_overlap_s: NonNegative = 300
    reconcile_lookback_s: Positive = 86_400
    saga_queue_capacity: Positive = 10_000
    saga_aging_s: PositiveFloat = 60.0
    cache_size: Positive = 100_000


class InventoryConfig(Section):
    max_active_skus: Positive = 10_000
    idle_s: PositiveFloat = 600.0
    sku_mailbox_size: Positive = 1024
    default_safety_buffer: NonNegative = 0
    hold_ttl_s: PositiveFloat = 1800.0
    step_timeout_s: PositiveFloat = 10.0
    sweep_interval_s: PositiveFloat = 30.0
    sweep_batch: Positive = 1000
    repair_interval_s: PositiveFloat = 600.0
    idempotency_ttl_s: Annotated[float, msgspec.Meta(ge=1.0)] = 86_400.0


class StockSyncConfig(Section):
    enabled: bool = True
    debounce_ms: NonNegativeFloat = 1000.0
    max_pending_skus: Positive = 100_000
    max_calls_in_flight: Positive = 4
    resync_interval_s: PositiveFloat = 900.0
    max_quantity: Positive = 99_999


class ReorderConfig(Section):
    enabled: bool = True
    cover_days: NonNegativeFloat = 7.0
    safety_s: NonNegativeFloat = 86_400.0
    cooldown_s: Positive = 86_400
    pack_size: Positive = 1
    min_qty: Positive = 1
    min_units: Positive = 10
    max_qty: Positive = 10_000
    tick_s: PositiveFloat = 15.0
    follow_up_s: PositiveFloat = 60.0
    max_skus: Positive = 100_000
    watcher_mailbox_size: Positive = 16_384


class SupplierConfig(Section):
    id: str = "sandbox"
    base_url: str = ""
    api_key: str = ""
    lead_time_s: PositiveFloat = 259_200.0
    timeout_s: PositiveFloat = 10.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 5


class ShippingConfig(Section):
    """``[shipping]``: the carrier gateway (Karrio's REST API), where parcels ship from, and
    the parcel assumed when a SKU has no size of its own."""

    enabled: bool = True
    base_url: Annotated[str, msgspec.Meta(pattern=r"^(https?://\S+)?$")] = ""
    api_key: str = ""
    timeout_s: PositiveFloat = 10.0
    max_response_bytes: Annotated[int, msgspec.Meta(ge=65_536)] = 8_388_608
    label_type: Literal["PDF", "ZPL"] = "PDF"
    ship_from_name: str = "CreatorFlow Fulfillment"
    ship_from_company: str = ""
    ship_from_phone: str = "+1 213 555 0100"
    ship_from_email: str = ""
    ship_from_line1: str = "100 Demo Way"
    ship_from_line2: str = ""
    ship_from_city: str = "Los Angeles"
    ship_from_state_code: str = "CA"
    ship_from_postal_code: str = "90012"
    ship_from_country_code: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")] = "US"
    default_parcel_weight_g: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 500
    default_parcel_length_cm: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 20
    default_parcel_width_cm: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 15
    default_parcel_height_cm: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    webhook_secret: str = ""
    label_deadline_s: PositiveFloat = 2.0
    breaker_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    breaker_open_s: PositiveFloat = 30.0
    max_per_carrier: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    max_in_flight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 64
    max_tries: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    retry_min_s: PositiveFloat = 5.0
    retry_max_s: PositiveFloat = 300.0
    void_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    poll_interval_s: PositiveFloat = 15.0
    poll_batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    track_first_s: PositiveFloat = 60.0
    track_max_s: PositiveFloat = 21_600.0

    #: Address/parcel fields as the keys that fill them, for error messages (in this order).
    _KEYS: ClassVar[dict[str, str]] = {
        "address.person_name": "ship_from_name",
        "address.company_name": "ship_from_company",
        "address.phone_number": "ship_from_phone",
        "address.address_line": "ship_from_line",
        "address.": "ship_from_",
        "parcel.": "default_parcel_",
    }

    def __post_init__(self) -> None:
        # A ship-from address or parcel the domain refuses stops start-up, naming the key.
        try:
            self.ship_from()
            self.default_parcel()
        except ValueError as exc:
            text = str(exc)
            for field, key in self._KEYS.items():
                text = text.replace(field, key)
            raise ValueError(text) from None

    def ship_from(self) -> Address:
        """The ``ship_from_*`` keys as the shipper address."""
        return Address(
            person_name=self.ship_from_name,
            company_name=self.ship_from_company,
            phone_number=self.ship_from_phone,
            email=self.ship_from_email,
            address_line1=self.ship_from_line1,
            address_line2=self.ship_from_line2,
            city=self.ship_from_city,
            state_code=self.ship_from_state_code,
            postal_code=self.ship_from_postal_code,
            country_code=self.ship_from_country_code,
        )

    def default_parcel(self) -> Parcel:
        """The ``default_parcel_*`` keys as a parcel (for SKUs with no size of their own)."""
        return Parcel(
            weight_g=self.default_parcel_weight_g,
            length_cm=self.default_parcel_length_cm,
            width_cm=self.default_parcel_width_cm,
            height_cm=self.default_parcel_height_cm,
        )


class ApiConfig(Section):
    token: str = ""


class SandboxConfig(Section):
    allow_public: bool = False


class CacheConfig(Section):
    redis_url: str = ""
    key_prefix: str = "creatorflow:"
    redis_socket_timeout_s: PositiveFloat = 0.25
    redis_max_connections: Positive = 64
    memory_max_entries: Positive = 100_000
    max_inflight_loads: Positive = 10_000
    product_ttl_s: PositiveFloat = 300.0
    api_ttl_s: PositiveFloat = 60.0
    query_ttl_s: PositiveFloat = 60.0
    session_ttl_s: PositiveFloat = 1800.0


class RulesConfig(Section):
    file: str = ""


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "text"] = "auto"


class Config(Section):
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    ingress: IngressConfig = msgspec.field(default_factory=IngressConfig)
    tiktok: TikTokConfig = msgspec.field(default_factory=TikTokConfig)
    orders: OrdersConfig = msgspec.field(default_factory=OrdersConfig)
    inventory: InventoryConfig = msgspec.field(default_factory=InventoryConfig)
    stock_sync: StockSyncConfig = msgspec.field(default_factory=StockSyncConfig)
    reorder: ReorderConfig = msgspec.field(default_factory=ReorderConfig)
    supplier: SupplierConfig = msgspec.field(default_factory=SupplierConfig)
    shipping: ShippingConfig = msgspec.field(default_factory=ShippingConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    sandbox: SandboxConfig = msgspec.field(default_factory=SandboxConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    # The [priority] section is the domain's own struct: the scorer takes it as it is.
    priority: PrioritySettings = msgspec.field(default_factory=PrioritySettings)
    # [viral] is the detector's own struct (domain/velocity.py), like [priority].
    viral: DetectorSettings = msgspec.field(default_factory=DetectorSettings)
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)

    def tiktok_apps(self) -> list[TikTokApp]:
        """Every configured (app_key, app_secret) pair: the single env app first, then the list."""
        apps: list[TikTokApp] = []
        if self.tiktok.app_key and self.tiktok.app_secret:
            apps.append(TikTokApp(app_key=self.tiktok.app_key, app_secret=self.tiktok.app_secret))
        apps.extend(self.tiktok.apps)
        return apps


ENV_PREFIX = "CREATORFLOW_"

#: Documented short environment names → (section, key).
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "CREATORFLOW_HTTP_HOST": ("http", "host"),
    "CREATORFLOW_HTTP_PORT": ("http", "port"),
    "CREATORFLOW_DATA_DIR": ("store", "data_dir"),
    "CREATORFLOW_DATABASE_URL": ("store", "database_url"),
    "CREATORFLOW_REDIS_URL": ("cache", "redis_url"),
    "CREATORFLOW_TIKTOK_APP_KEY": ("tiktok", "app_key"),
    "CREATORFLOW_TIKTOK_APP_SECRET": ("tiktok", "app_secret"),
    "CREATORFLOW_TIKTOK_SECRETS_FILE": ("tiktok", "secrets_file"),
    "CREATORFLOW_TIKTOK_BASE_URL": ("tiktok", "base_url"),
    "CREATORFLOW_API_TOKEN": ("api", "token"),
    "CREATORFLOW_SUPPLIER_API_KEY": ("supplier", "api_key"),
    "CREATORFLOW_SHIPPING_BASE_URL": ("shipping", "base_url"),
    "CREATORFLOW_SHIPPING_API_KEY": ("shipping", "api_key"),
    "CREATORFLOW_BACKEND": ("server", "backend"),
    "CREATORFLOW_SERVER": ("server", "kind"),
    "CREATORFLOW_LOG_LEVEL": ("log", "level"),
    "CREATORFLOW_LOG_FORMAT": ("log", "format"),
    "CREATORFLOW_RULES_FILE": ("rules", "file"),
}

#: Keys whose values are never printed or logged.
SECRET_KEYS = frozenset({"app_secret", "token", "api_key", "webhook_secret"})

#: Environment variables that are not config keys (test switches, tooling).
_NOT_CONFIG = frozenset({"CREATORFLOW_REQUIRE_SERVICES", "CREATORFLOW_CONFIG"})


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_CONFIG:
            continue
        if name in ENV_ALIASES:
            section, key = ENV_ALIASES[name]
        elif "__" in name:
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        else:
            raise ConfigError(
                f"config: unknown environment variable {name} (use one of "
                f"{', '.join(sorted(ENV_ALIASES))} or CREATORFLOW_<SECTION>__<KEY>)"
            )
        layer.setdefault(section, {})[key] = value
    return layer


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: invalid TOML: {exc}") from None


def _validate(raw: Mapping[str, Any]) -> Config:
    try:
        return msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.http.port`"; turn that into "http.port: ...".
        text = str(exc)
        problem, sep, where = text.rpartition(" - at `$.")
        if sep:
            return_key = where.rstrip("`")
            raise ConfigError(f"config: {return_key}: {problem}") from None
        raise ConfigError(f"config: {text}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build the effective configuration.

    Args:
        path: optional TOML file layered over the defaults.
        environ: environment to read ``CREATORFLOW_*`` from (default ``os.environ``).

    Raises:
        ConfigError: a file is missing or malformed, or a value is invalid; the message is one
            line naming the key.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = msgspec.to_builtins(Config())
    if path is not None:
        raw = _merge(raw, _read_toml(Path(path)))
    raw = _merge(raw, _env_layer(env))
    config = _validate(raw)
    if config.tiktok.secrets_file:
        secrets = _read_toml(Path(config.tiktok.secrets_file))
        raw = _merge(
            raw, {"tiktok": {"apps": [*raw["tiktok"].get("apps", []), *secrets.get("apps", [])]}}
        )
        config = _validate(raw)
    _check(config)
    return config


def load_rules_file(config: Config) -> RuleSet:
    """Read and compile the seller's automation rules named by ``rules.file``.

    An empty ``rules.file`` means no rules. Reads the file (blocking; call at start-up).

    Raises:
        ConfigError: the file cannot be read.
        InvalidRules: the file is not valid rules (a :class:`ConfigError`; one line naming
            the file, the rule and the field).
    """
    if not config.rules.file:
        return EMPTY_RULES
    path = Path(config.rules.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: rules.file: cannot read {path}: {exc.strerror}") from None
    return load_rules(text, source=str(path))


def _check(config: Config) -> None:
    load_rules_file(config)  # invalid rules stop start-up (and check-config) with one line
    if config.runtime.backoff_max_ms < config.runtime.backoff_min_ms:
        raise ConfigError("config: runtime.backoff_max_ms: must be >= runtime.backoff_min_ms")
    if bool(config.tiktok.app_key) != bool(config.tiktok.app_secret):
        raise ConfigError("config: tiktok.app_key / tiktok.app_secret: set both or neither")
    if config.tiktok.breaker_min_calls > config.tiktok.breaker_window:
        raise ConfigError("config: tiktok.breaker_min_calls: must be <= tiktok.breaker_window")
    if config.store.database_url and not config.store.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError("config: store.database_url: must start with postgresql://")
    if config.store.pg_max_concurrent_commits > config.store.pg_pool_max_size:
        raise ConfigError(
            "config: store.pg_max_concurrent_commits: must be <= store.pg_pool_max_size "
            f"({config.store.pg_pool_max_size})"
        )
    if config.server.backend == "trio" and config.server.kind == "uvicorn":
        raise ConfigError(
            'config: server.kind: uvicorn needs the asyncio backend; use server.kind = "hypercorn" '
            "with backend trio"
        )


def _scrub_value(key: str, value: Any, scrub: Any) -> Any:
    if key in SECRET_KEYS and value:
        return MASK
    if key.endswith("_url") and isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1{MASK}@", value)
    return scrub(value)


_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^@]*@")


def masked(config: Config) -> dict[str, Any]:
    """The config as plain data with every secret replaced by a mask (for ``check-config``)."""

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: _scrub_value(k, v, scrub) for k, v in node.items()}
        if isinstance(node, list):
            return [scrub(v) for v in node]
        return node

    result: dict[str, Any] = scrub(msgspec.to_builtins(config))
    return result
