"""A real Karrio server (2026.1.32, offline, SQLite) for the carrier gateway contract tests.

Recipe: ``../shared/reference/karrio-server.md``. ``make install-karrio`` installs the eight
packages into ``.karrio-venv/`` (never ``karrio-server-documents``: it fetches a CSS file on
import and breaks offline). :func:`running_karrio` then, in a fresh directory:

1. builds the schema straight from the models (a settings shim with no migrations,
   ``migrate --run-syncdb``: ~2 s instead of 47 s for the 422 migrations) and creates the
   admin user and a fixed API key, in one Django start;
2. starts gunicorn on a socket bound here to ``127.0.0.1:0`` and handed over as
   ``fd://N`` (no port race), and polls ``GET /`` until it answers;
3. creates two ``generic`` carrier connections (``acme-local`` as ``acme``, ``bolt-local``
   as ``bolt``), each with a rate sheet (GraphQL: there is no REST endpoint for them);
4. stops gunicorn (SIGINT: quick shutdown) when the block exits.

The rate sheets hold prices whose float times 100 is not whole (19.99, 34.35, 4.35), so an
adapter that goes through a float is caught by the exact-amount assertions.

The ``karrio_server`` session fixture skips with a reason when ``.karrio-venv`` is not
installed, and fails instead with ``CREATORFLOW_REQUIRE_SERVICES=1`` (as CI sets).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

KARRIO_VERSION: Final = "2026.1.32"
ROOT: Final = Path(__file__).resolve().parents[2]
#: Where ``make install-karrio`` puts it; ``KARRIO_VENV`` points elsewhere.
KARRIO_VENV: Final = Path(os.environ.get("KARRIO_VENV") or ROOT / ".karrio-venv")
API_KEY: Final = "key_0123456789abcdef0123456789abcdef"
START_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True)
class SheetService:
    """One service of a rate sheet, and the rate a contract test must see for it."""

    carrier: str  # the custom carrier name quotes show
    code: str
    name: str
    price: str  # major units, as written in the sheet
    price_minor: int
    currency: str
    transit_days: int


#: carrier_id → (custom carrier name, display name, services); US zone only.
CARRIERS: Final = {
    "acme-local": (
        "acme",
        "ACME Local",
        (
            SheetService("acme", "acme_ground", "ACME Ground", "19.99", 1999, "USD", 4),
            SheetService("acme", "acme_express", "ACME Express", "34.35", 3435, "USD", 1),
        ),
    ),
    "bolt-local": (
        "bolt",
        "Bolt Parcel",
        (SheetService("bolt", "bolt_saver", "Bolt Saver", "4.35", 435, "USD", 6),),
    ),
}

_FAST_SETTINGS: Final = """\
from karrio.server.settings import *  # noqa: F403


class _NoMigrations(dict):
    # Every app "has no migrations": migrate --run-syncdb creates tables from the models.
    def __contains__(self, item):
        return True

    def __getitem__(self, item):
        return None


MIGRATION_MODULES = _NoMigrations()
# The autodetector looks these swappable models up by name.
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
"""

_SETUP_DB: Final = f"""\
import django

django.setup()
from django.core.management import call_command

call_command("migrate", run_syncdb=True, verbosity=0)
from django.contrib.auth import get_user_model
from karrio.server.user.models import Token

user = get_user_model().objects.create_superuser("admin@example.com", "demo-password-123")
Token.objects.create(key={API_KEY!r}, user=user, label="contract-tests", test_mode=False)
"""

_RATE_SHEET: Final = """
mutation($data: CreateRateSheetMutationInput!) {
  create_rate_sheet(input: $data) { rate_sheet { id } errors { field messages } }
}"""


@dataclass(frozen=True)
class KarrioServer:
    """A running, configured Karrio: where, which key, and how long it took to get there."""

    base_url: str
    api_key: str
    log_path: Path
    timings_s: dict[str, float]


def missing_reason() -> str | None:
    """Why the Karrio venv cannot be used, or None when it can."""
    stamp = KARRIO_VENV / f".installed-{KARRIO_VERSION}"
    if not stamp.exists():
        return f"Karrio {KARRIO_VERSION} is not installed in {KARRIO_VENV} (make install-karrio)"
    return None


def _environment(work_dir: Path) -> dict[str, str]:
    # A clean environment: nothing of the caller's (REDIS_*, DATABASE_*, proxies) leaks in.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        SECRET_KEY="contract-tests-secret-key-not-for-production-0123456789",
        DEBUG_MODE="False",
        DATABASE_ENGINE="sqlite3",
        DATABASE_NAME="db.sqlite3",
        WORK_DIR=str(work_dir / "data"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        WORKER_IMMEDIATE_MODE="True",
        LOG_LEVEL="WARNING",
        DJANGO_LOG_LEVEL="WARNING",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _set_up_database(work_dir: Path, env: dict[str, str], log: Any) -> None:
    (work_dir / "fast_settings.py").write_text(_FAST_SETTINGS)
    (work_dir / "setup_db.py").write_text(_SETUP_DB)
    subprocess.run(
        [str(KARRIO_VENV / "bin" / "python"), "setup_db.py"],
        cwd=work_dir,
        env={**env, "PYTHONPATH": str(work_dir), "DJANGO_SETTINGS_MODULE": "fast_settings"},
        stdout=log,
        stderr=subprocess.STDOUT,
        check=True,
        timeout=START_TIMEOUT_S,
    )


def _wait_ready(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}); see {log_path}")
        try:
            if httpx.get(base_url + "/", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Karrio did not answer within {START_TIMEOUT_S:.0f} s; see {log_path}")


def _configure_carriers(client: httpx.Client) -> None:
    for carrier_id, (custom_name, display, services) in CARRIERS.items():
        connection = client.post(
            "/v1/connections",
            json={
                "carrier_name": "generic",
                "carrier_id": carrier_id,
                "credentials": {"display_name": display, "custom_carrier_name": custom_name},
            },
        )
        connection.raise_for_status()
        sheet = {
            "name": f"{display} sheet",
            "carrier_name": "generic",
            "carriers": [connection.json()["id"]],
            "zones": [{"id": "zone_us", "label": "USA", "country_codes": ["US"]}],
            "services": [
                {
                    "service_name": s.name,
                    "service_code": s.code,
                    "currency": s.currency,
                    "transit_days": s.transit_days,
                    "zone_ids": ["zone_us"],
                    "max_weight": 30,
                    "weight_unit": "KG",
                }
                for s in services
            ],
            "service_rates": [
                {"service_id": f"temp-{i}", "zone_id": "zone_us", "rate": float(s.price)}
                for i, s in enumerate(services)
            ],
        }
        answer = client.post("/graphql", json={"query": _RATE_SHEET, "variables": {"data": sheet}})
        answer.raise_for_status()
        result = answer.json()
        if result.get("errors") or result["data"]["create_rate_sheet"]["errors"]:
            raise RuntimeError(f"rate sheet for {carrier_id} refused: {result}")


@contextmanager
def running_karrio(work_dir: Path) -> Iterator[KarrioServer]:
    """A configured Karrio server on 127.0.0.1 for the duration of the block.

    Raises:
        RuntimeError: it did not come up (the message, or the log it names, says why).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "data").mkdir(exist_ok=True)
    env = _environment(work_dir)
    log_path = work_dir / "karrio.log"
    timings: dict[str, float] = {}
    started = time.monotonic()
    with log_path.open("wb") as log:
        try:
            _set_up_database(work_dir, env, log)
        except subprocess.SubprocessError as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Karrio database set-up failed: {exc}\n{tail}") from exc
        timings["database_s"] = time.monotonic() - started
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = subprocess.Popen(
            [
                str(KARRIO_VENV / "bin" / "gunicorn"),
                "karrio.server.wsgi",
                "--bind",
                f"fd://{listener.fileno()}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
            cwd=work_dir,
            env=env,
            pass_fds=[listener.fileno()],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        listener.close()  # gunicorn holds its own copy
        try:
            _wait_ready(base_url, server, log_path)
            timings["server_s"] = time.monotonic() - started - timings["database_s"]
            headers = {"authorization": f"Token {API_KEY}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
                _configure_carriers(client)
            timings["total_s"] = time.monotonic() - started
            yield KarrioServer(base_url, API_KEY, log_path, timings)
        finally:
            _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)  # gunicorn: quick shutdown of master and worker
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the group this fixture started
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def karrio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KarrioServer]:
    """One configured Karrio server for the whole session (skips, or fails under
    ``CREATORFLOW_REQUIRE_SERVICES=1``, when the Karrio venv is not installed)."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CREATORFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} and CREATORFLOW_REQUIRE_SERVICES=1")
        pytest.skip(f"{reason}; set CREATORFLOW_REQUIRE_SERVICES=1 to make this fail")
    with running_karrio(tmp_path_factory.mktemp("karrio")) as server:
        print(
            f"karrio: up in {server.timings_s['total_s']:.1f} s {server.timings_s}", file=sys.stderr
        )
        yield server
