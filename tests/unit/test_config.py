"""Config layering, validation messages, masking, and default.toml kept equal to the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from creatorflow.config import MASK, Config, load_config, masked
from creatorflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_default_toml_equals_built_in_defaults() -> None:
    with (ROOT / "config" / "default.toml").open("rb") as fh:
        shipped = tomllib.load(fh)
    assert shipped == msgspec.to_builtins(Config())


def test_every_default_key_is_commented() -> None:
    for line in (ROOT / "config" / "default.toml").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"undocumented key: {line}"


def test_layers_file_then_env(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[http]\nport = 9000\nhost = "127.0.0.2"\n[store]\nbatch_max_size = 7\n')
    config = load_config(path, environ={"CREATORFLOW_HTTP_PORT": "9100"})
    assert config.http.port == 9100  # env wins over the file
    assert config.http.host == "127.0.0.2"  # file wins over defaults
    assert config.store.batch_max_size == 7
    assert config.ingress.mailbox_size == Config().ingress.mailbox_size


def test_generic_env_names() -> None:
    config = load_config(environ={"CREATORFLOW_STORE__BATCH_MAX_WAIT_MS": "2.5"})
    assert config.store.batch_max_wait_ms == 2.5


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"CREATORFLOW_HTTP_PORT": "abc"}, "http.port"),
        ({"CREATORFLOW_HTTP_PORT": "70000"}, "http.port"),
        ({"CREATORFLOW_STORE__BATCH_MAX_SIZE": "0"}, "store.batch_max_size"),
        ({"CREATORFLOW_SERVER": "gunicorn"}, "server.kind"),
        ({"CREATORFLOW_STORE__NOPE": "1"}, "nope"),
        ({"CREATORFLOW_NOPE": "1"}, "CREATORFLOW_NOPE"),
        ({"CREATORFLOW_TIKTOK_APP_KEY": "k"}, "tiktok.app_key"),
        ({"CREATORFLOW_DATABASE_URL": "mysql://x"}, "store.database_url"),
        ({"CREATORFLOW_BACKEND": "trio"}, "server.kind"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad, environ={})


def test_apps_from_env_file_and_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[[apps]]\napp_key = "k2"\napp_secret = "s2"\n')
    path = tmp_path / "c.toml"
    path.write_text('[[tiktok.apps]]\napp_key = "k3"\napp_secret = "s3"\n')
    config = load_config(
        path,
        environ={
            "CREATORFLOW_TIKTOK_APP_KEY": "k1",
            "CREATORFLOW_TIKTOK_APP_SECRET": "s1",
            "CREATORFLOW_TIKTOK_SECRETS_FILE": str(secrets),
        },
    )
    assert [a.app_key for a in config.tiktok_apps()] == ["k1", "k3", "k2"]


def test_masked_hides_secrets_and_url_passwords() -> None:
    config = load_config(
        environ={
            "CREATORFLOW_TIKTOK_APP_KEY": "key",
            "CREATORFLOW_TIKTOK_APP_SECRET": "topsecret",
            "CREATORFLOW_API_TOKEN": "tok",
            "CREATORFLOW_DATABASE_URL": "postgresql://me:pw@db:5432/x",
        }
    )
    shown = masked(config)
    assert shown["tiktok"]["app_secret"] == MASK
    assert shown["tiktok"]["app_key"] == "key"
    assert shown["api"]["token"] == MASK
    assert shown["store"]["database_url"] == f"postgresql://me:{MASK}@db:5432/x"
    assert "topsecret" not in repr(shown)
