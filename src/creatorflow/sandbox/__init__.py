"""Runnable simulators of the services CreatorFlow talks to (ASGI apps, deterministic).

:mod:`creatorflow.sandbox.tiktok` is the sandbox TikTok Shop (``TikTokSandbox``), served by
``creatorflow sandbox tiktok`` or used in-process through ``httpx.ASGITransport``.
"""
