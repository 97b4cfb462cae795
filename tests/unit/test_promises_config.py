"""The README's configuration table and its masking promise, written from the README.

- Every row of the table: the environment variable sets the key it names, and the key's
  default is the one the table gives.
- "A bad value stops start-up with one line naming the key" (the README's own example).
- "``creatorflow check-config`` prints the effective configuration with secrets and URL
  passwords masked": every secret (``tiktok.app_secret``, the secrets of ``[[tiktok.apps]]``
  and of ``tiktok.secrets_file``, ``api.token``, ``supplier.api_key``) and the password of
  every URL is absent from what it prints, while the rest is shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from creatorflow.cli import main
from creatorflow.config import Config, load_config
from creatorflow.errors import ConfigError

# (environment variable, value, dotted key, value read back, README's default)
TABLE: list[tuple[str, str, str, Any, Any]] = [
    ("CREATORFLOW_HTTP_HOST", "127.0.0.9", "http.host", "127.0.0.9", "127.0.0.1"),
    ("CREATORFLOW_HTTP_PORT", "0", "http.port", 0, 8080),
    ("CREATORFLOW_DATA_DIR", "/var/lib/cf", "store.data_dir", "/var/lib/cf", "./data"),
    ("CREATORFLOW_DATABASE_URL", "postgresql://db/x", "store.database_url",
     "postgresql://db/x", ""),
    ("CREATORFLOW_REDIS_URL", "redis://cache:6379/0", "cache.redis_url",
     "redis://cache:6379/0", ""),
    ("CREATORFLOW_API_TOKEN", "tok", "api.token", "tok", ""),
    ("CREATORFLOW_SUPPLIER_API_KEY", "sk-1", "supplier.api_key", "sk-1", ""),
    ("CREATORFLOW_SERVER", "hypercorn", "server.kind", "hypercorn", "uvicorn"),
    ("CREATORFLOW_LOG_LEVEL", "DEBUG", "log.level", "DEBUG", "INFO"),
    ("CREATORFLOW_STORE__BATCH_MAX_SIZE", "500", "store.batch_max_size", 500, None),
]  # fmt: skip


def get(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize(("env", "raw", "key", "value", "default"), TABLE)
def test_each_variable_sets_its_key_and_the_default_is_the_tables(
    env: str, raw: str, key: str, value: Any, default: Any
) -> None:
    assert get(load_config(environ={env: raw}), key) == value
    if default is not None:
        assert get(load_config(environ={}), key) == default


def test_app_key_and_secret_backend_and_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "apps.toml"
    secrets.write_text('[[apps]]\napp_key = "file-app"\napp_secret = "file-secret"\n')
    config = load_config(
        environ={
            "CREATORFLOW_TIKTOK_APP_KEY": "env-app",
            "CREATORFLOW_TIKTOK_APP_SECRET": "env-secret",
            "CREATORFLOW_TIKTOK_SECRETS_FILE": str(secrets),
            "CREATORFLOW_BACKEND": "trio",
            "CREATORFLOW_SERVER": "hypercorn",  # trio needs hypercorn
        }
    )
    assert (config.tiktok.app_key, config.tiktok.app_secret) == ("env-app", "env-secret")
    assert config.tiktok.secrets_file == str(secrets)
    assert [(a.app_key, a.app_secret) for a in config.tiktok_apps()] == [
        ("env-app", "env-secret"),
        ("file-app", "file-secret"),
    ]
    assert config.server.backend == "trio"
    defaults = load_config(environ={})
    assert (defaults.tiktok.app_key, defaults.tiktok.app_secret) == ("", "")
    assert defaults.tiktok.secrets_file == ""
    assert defaults.server.backend == "asyncio"


def test_trio_with_uvicorn_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.kind"):
        load_config(environ={"CREATORFLOW_BACKEND": "trio", "CREATORFLOW_SERVER": "uvicorn"})


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``CREATORFLOW_*`` variable of the test run leaks into the command."""
    for name in list(os.environ):
        if name.startswith("CREATORFLOW_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_readmes_bad_port_example_is_one_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("CREATORFLOW_HTTP_PORT", "70000")
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "creatorflow: config: http.port: Expected `int` <= 65535\n"


# --------------------------------------------------------------------------- check-config

SECRETS = {
    "tiktok.app_secret": "s3cret-env-app-value",
    "tiktok.apps[0].app_secret": "s3cret-config-app-value",
    "secrets_file app": "s3cret-file-app-value",
    "api.token": "s3cret-api-token-value",
    "supplier.api_key": "s3cret-supplier-key-value",
    "store.database_url": "s3cret-pg-password",
    "cache.redis_url": "s3cret-redis-password",
    "supplier.base_url": "s3cret-supplier-url-password",
    "tiktok.base_url": "s3cret-tiktok-url-password",
    "tiktok.auth_base_url": "s3cret-auth-url-password",
}


def test_check_config_masks_every_secret_and_url_password(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text(
        f'[[apps]]\napp_key = "file-app"\napp_secret = "{SECRETS["secrets_file app"]}"\n'
    )
    config_file = tmp_path / "creatorflow.toml"
    config_file.write_text(
        "[tiktok]\n"
        f'auth_base_url = "https://auth-user:{SECRETS["tiktok.auth_base_url"]}@auth.example"\n'
        "[[tiktok.apps]]\n"
        'app_key = "config-app"\n'
        f'app_secret = "{SECRETS["tiktok.apps[0].app_secret"]}"\n'
    )
    environ = {
        "CREATORFLOW_TIKTOK_APP_KEY": "env-app",
        "CREATORFLOW_TIKTOK_APP_SECRET": SECRETS["tiktok.app_secret"],
        "CREATORFLOW_TIKTOK_SECRETS_FILE": str(apps),
        "CREATORFLOW_API_TOKEN": SECRETS["api.token"],
        "CREATORFLOW_SUPPLIER_API_KEY": SECRETS["supplier.api_key"],
        "CREATORFLOW_DATABASE_URL": (
            f"postgresql://cf:{SECRETS['store.database_url']}@db.example:5432/creatorflow"
        ),
        "CREATORFLOW_REDIS_URL": f"redis://:{SECRETS['cache.redis_url']}@cache.example:6379/0",
        "CREATORFLOW_SUPPLIER__BASE_URL": (
            f"https://buyer:{SECRETS['supplier.base_url']}@supplier.example/api"
        ),
        "CREATORFLOW_TIKTOK_BASE_URL": (
            f"https://tt:{SECRETS['tiktok.base_url']}@open-api.example"
        ),
    }
    for name, value in environ.items():
        clean_env.setenv(name, value)

    assert main(["check-config", "--config", str(config_file)]) == 0
    out, err = capsys.readouterr()
    for where, secret in SECRETS.items():
        assert secret not in out + err, f"{where} is printed"
    # Only the secret parts are hidden: the rest of the configuration is shown as set.
    shown = json.loads(out)
    assert shown["tiktok"]["app_key"] == "env-app"
    assert [app["app_key"] for app in shown["tiktok"]["apps"]] == ["config-app", "file-app"]
    assert shown["store"]["database_url"].startswith("postgresql://cf:")
    assert shown["store"]["database_url"].endswith("@db.example:5432/creatorflow")
    assert shown["cache"]["redis_url"].endswith("@cache.example:6379/0")
    assert shown["supplier"]["base_url"].endswith("@supplier.example/api")
    assert shown["tiktok"]["secrets_file"] == str(apps)
    for masked in (
        shown["tiktok"]["app_secret"],
        shown["api"]["token"],
        shown["supplier"]["api_key"],
        *(app["app_secret"] for app in shown["tiktok"]["apps"]),
    ):
        assert masked and set(masked) == {"*"}
