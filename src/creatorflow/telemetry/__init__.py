"""Telemetry: structured logs (``telemetry.logging``); metrics live in ``creatorflow.metrics``
for now (LAYOUT: they move here, one module per capability)."""
