"""The ``creatorflow`` command line as a user runs it (real processes)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from creatorflow.adapters.store._migrate import load_migrations
from helpers import APP_KEY, APP_SECRET, signed_headers, webhook_body

pytestmark = pytest.mark.slow


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "creatorflow", *args],
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_prints_effective_config_with_secrets_masked() -> None:
    result = run_cli(
        "check-config",
        env={
            "CREATORFLOW_TIKTOK_APP_KEY": "k",
            "CREATORFLOW_TIKTOK_APP_SECRET": "very-secret",
            "CREATORFLOW_HTTP_PORT": "9999",
        },
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["http"]["port"] == 9999
    assert shown["tiktok"]["app_secret"] == "********"
    assert "very-secret" not in result.stdout + result.stderr


def test_bad_config_is_one_line_and_exit_2() -> None:
    result = run_cli("check-config", env={"CREATORFLOW_STORE__BATCH_MAX_SIZE": "-3"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "store.batch_max_size" in lines[0]


def test_config_file_option(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ingress]\nmailbox_size = 77\n")
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ingress"]["mailbox_size"] == 77


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    env = {"CREATORFLOW_DATA_DIR": str(tmp_path / "d")}
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied: 1" in first.stdout
    second = run_cli("migrate", env=env)
    assert second.returncode == 0, second.stderr
    latest = len(load_migrations("sqlite"))
    assert f"applied: none; schema version {latest}" in second.stdout


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli(
        "serve",
        env={
            "CREATORFLOW_HTTP_HOST": "0.0.0.0",
            "CREATORFLOW_HTTP_PORT": "0",
            "CREATORFLOW_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 2
    assert "api.token" in result.stderr


def test_sigterm_drains_and_exits_cleanly(tmp_path: Path) -> None:
    env = os.environ | {
        "CREATORFLOW_HTTP_PORT": "0",
        "CREATORFLOW_DATA_DIR": str(tmp_path / "data"),
        "CREATORFLOW_TIKTOK_APP_KEY": APP_KEY,
        "CREATORFLOW_TIKTOK_APP_SECRET": APP_SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "creatorflow", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" ", 1)[-1].strip()
        with httpx.Client(base_url=url) as client:
            for i in range(20):
                body = webhook_body(f"term-{i}")
                response = client.post(
                    "/webhooks/tiktok", content=body, headers=signed_headers(body)
                )
                assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0
    assert "shutdown: drained" in stderr
    with sqlite3.connect(tmp_path / "data" / "creatorflow.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM inbox WHERE state = 'processed'").fetchone()
    assert count == 20  # drained: everything accepted was also processed before exit


def test_unusable_data_dir_is_one_clear_line_and_exit_1() -> None:
    result = run_cli(
        "serve",
        env={"CREATORFLOW_HTTP_PORT": "0", "CREATORFLOW_DATA_DIR": "/proc/creatorflow-nope"},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("creatorflow: ")
    assert "/proc/creatorflow-nope" in last
    assert "Traceback" not in result.stderr
