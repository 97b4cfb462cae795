"""``creatorflow sandbox tiktok``: flags become the sandbox config, uvicorn serves it."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from creatorflow import cli
from creatorflow.sandbox.tiktok import TikTokSandbox


def test_flags_build_the_sandbox_served_by_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        served.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    code = cli.main(
        ["sandbox", "tiktok", "--port", "9999", "--webhook-url", "http://127.0.0.1:1/h",
         "--app-key", "k", "--app-secret", "s", "--seed", "5"]
    )  # fmt: skip
    assert code == 0
    app = served["app"]
    assert isinstance(app, TikTokSandbox)
    assert (app.config.app_key, app.config.app_secret, app.config.seed) == ("k", "s", 5)
    assert app.config.webhook_url == "http://127.0.0.1:1/h"
    assert (served["host"], served["port"], served["lifespan"]) == ("127.0.0.1", 9999, "on")


def test_half_the_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not serve"))
    assert cli.main(["sandbox", "tiktok", "--app-key", "k"]) == cli.EXIT_CONFIG
