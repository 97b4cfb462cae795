"""``creatorflow`` command line: serve, migrate, check-config, sandbox tiktok.

Every command takes ``--config FILE`` (layered over the shipped defaults; ``CREATORFLOW_*``
environment variables win). A configuration problem prints one line naming the key and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import anyio
import msgspec

from creatorflow import __version__
from creatorflow.config import Config, load_config, masked
from creatorflow.errors import ConfigError, CreatorFlowError
from creatorflow.telemetry.logging import setup as setup_logging

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creatorflow",
        description="Fulfillment engine for TikTok Shop sellers.",
    )
    parser.add_argument("--version", action="version", version=f"creatorflow {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help="TOML file layered over config/default.toml"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "serve", parents=[common], help="run the service (HTTP, actors, store) until SIGTERM"
    )
    sub.add_parser("migrate", parents=[common], help="apply pending store migrations and exit")
    sub.add_parser(
        "check-config",
        parents=[common],
        help="validate and print the effective config (secrets masked)",
    )
    sandbox = sub.add_parser("sandbox", help="run a simulator as its own process")
    kinds = sandbox.add_subparsers(dest="sandbox", required=True, metavar="KIND")
    tiktok = kinds.add_parser("tiktok", parents=[common], help="sandbox TikTok Shop (uvicorn)")
    tiktok.add_argument("--host", default="127.0.0.1")
    tiktok.add_argument("--port", type=int, default=8090)
    tiktok.add_argument("--webhook-url", default="", help="where signed webhooks are posted")
    tiktok.add_argument("--app-key", default="", help="default: tiktok.app_key, else a sandbox key")
    tiktok.add_argument("--app-secret", default="", help="default: tiktok.app_secret")
    tiktok.add_argument("--seed", type=int, default=0)
    supplier = kinds.add_parser("supplier", parents=[common], help="sandbox supplier (uvicorn)")
    supplier.add_argument("--host", default="127.0.0.1")
    supplier.add_argument("--port", type=int, default=8091)
    supplier.add_argument("--api-key", default="", help="default: a sandbox key")
    supplier.add_argument("--lead-time-s", type=float, default=None, help="order to delivery")
    supplier.add_argument("--seed", type=int, default=0)
    carriers = kinds.add_parser("carriers", parents=[common], help="sandbox carriers (Karrio API)")
    carriers.add_argument("--host", default="127.0.0.1")
    carriers.add_argument("--port", type=int, default=8092)
    carriers.add_argument("--api-key", default="", help="default: a sandbox key")
    carriers.add_argument("--seed", type=int, default=0)
    carriers.add_argument("--webhook-url", default="", help="where tracker_updated is posted")
    carriers.add_argument("--webhook-secret", default="", help="sent as X-Event-Id")
    return parser


def _setup_logging(config: Config) -> None:
    setup_logging(config.log.level, config.log.format)


def _run_async(config: Config, fn: Any, *args: Any) -> Any:
    options: dict[str, Any] = {}
    if config.server.backend == "asyncio" and config.server.use_uvloop:
        options["use_uvloop"] = True
    return anyio.run(fn, *args, backend=config.server.backend, backend_options=options)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``creatorflow`` script; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"creatorflow: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(masked(config))).decode())
        sys.stdout.write("\n")
        return 0
    _setup_logging(config)
    if args.command == "sandbox":
        return _run_sandbox(args, config)
    try:
        return _run_command(args.command, config)
    except BaseExceptionGroup as group:
        # Task groups wrap what their tasks raised; report the first real cause in one line.
        leaf = _first_leaf(group)
        if isinstance(leaf, ConfigError):
            print(f"creatorflow: {leaf}", file=sys.stderr)
            return EXIT_CONFIG
        if isinstance(leaf, CreatorFlowError):
            print(f"creatorflow: {leaf}", file=sys.stderr)
            return EXIT_FAILURE
        raise


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _run_sandbox(args: argparse.Namespace, config: Config) -> int:
    """Serve the sandbox TikTok Shop with uvicorn until interrupted (its own process)."""
    if args.sandbox == "supplier":
        return _run_supplier_sandbox(args, config)
    if args.sandbox == "carriers":
        return _run_carrier_sandbox(args, config)
    import uvicorn

    from creatorflow.sandbox.tiktok import TikTokSandbox, TikTokSandboxConfig

    app_key = args.app_key or config.tiktok.app_key
    app_secret = args.app_secret or config.tiktok.app_secret
    if bool(app_key) != bool(app_secret):
        print("creatorflow: sandbox tiktok: give both --app-key and --app-secret", file=sys.stderr)
        return EXIT_CONFIG
    defaults = TikTokSandboxConfig()
    try:
        sandbox_config = TikTokSandboxConfig(
            app_key=app_key or defaults.app_key,
            app_secret=app_secret or defaults.app_secret,
            seed=args.seed,
            webhook_url=args.webhook_url,
            admin_token=config.api.token,
        )
    except ValueError as exc:
        print(f"creatorflow: sandbox tiktok: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    uvicorn.run(
        TikTokSandbox(sandbox_config),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_level=config.log.level.lower(),
    )
    return 0


def _run_supplier_sandbox(args: argparse.Namespace, config: Config) -> int:
    """Serve the sandbox supplier with uvicorn until interrupted (its own process)."""
    import uvicorn

    from creatorflow.sandbox.supplier import SupplierSandbox, SupplierSandboxConfig

    fields: dict[str, Any] = {"seed": args.seed, "admin_token": config.api.token}
    if args.api_key:
        fields["api_key"] = args.api_key
    if args.lead_time_s is not None:
        fields["lead_time_s"] = args.lead_time_s
    try:
        sandbox_config = SupplierSandboxConfig(**fields)
    except ValueError as exc:
        print(f"creatorflow: sandbox supplier: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    uvicorn.run(
        SupplierSandbox(sandbox_config),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_level=config.log.level.lower(),
    )
    return 0


def _run_carrier_sandbox(args: argparse.Namespace, config: Config) -> int:
    """Serve the sandbox carriers (Karrio API at ``/v1``) with uvicorn until interrupted."""
    import uvicorn

    from creatorflow.sandbox.carriers import CarrierSandbox, CarrierSandboxConfig

    fields: dict[str, Any] = {"seed": args.seed, "admin_token": config.api.token}
    if args.api_key:
        fields["api_key"] = args.api_key
    if args.webhook_url:
        fields["webhook_url"] = args.webhook_url
    if args.webhook_secret:
        fields["webhook_secret"] = args.webhook_secret
    try:
        sandbox_config = CarrierSandboxConfig(**fields)
    except ValueError as exc:
        print(f"creatorflow: sandbox carriers: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    uvicorn.run(
        CarrierSandbox(sandbox_config),
        host=args.host,
        port=args.port,
        lifespan="on",
        log_level=config.log.level.lower(),
    )
    return 0


def _run_command(command: str, config: Config) -> int:
    from creatorflow import app as service_app

    try:
        if command == "migrate":
            applied, version = _run_async(config, service_app.migrate, config)
            names = ", ".join(str(v) for v in applied) or "none"
            print(f"creatorflow: migrations applied: {names}; schema version {version}")
            return 0
        _run_async(config, service_app.serve, config)
        return 0
    except ConfigError as exc:
        print(f"creatorflow: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CreatorFlowError as exc:
        print(f"creatorflow: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
