"""Structured logs (issue 11): ids bound in context reach every record, as JSON or text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import anyio
import pytest

from creatorflow.telemetry.logging import bound, current, setup

pytestmark = pytest.mark.anyio


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_records_carry_the_bound_ids_and_nesting_adds_to_them(restore_root: None) -> None:
    out = io.StringIO()  # not a terminal: "auto" writes JSON
    setup("INFO", "auto", stream=out)
    log = logging.getLogger("creatorflow.test")
    log.info("outside")
    with bound(order_id="576", shop_id="shop-1"):
        log.warning("order %s stuck", "576")
        with bound(sku="MUG-RED"):
            log.info("inner")
        assert current() == {"order_id": "576", "shop_id": "shop-1"}
    log.info("after")
    records = lines(out)
    assert [r["msg"] for r in records] == ["outside", "order 576 stuck", "inner", "after"]
    assert "order_id" not in records[0] and "order_id" not in records[3]
    assert records[1]["order_id"] == "576" and records[1]["level"] == "WARNING"
    assert records[2] == records[2] | {"order_id": "576", "shop_id": "shop-1", "sku": "MUG-RED"}
    assert records[1]["logger"] == "creatorflow.test"


def test_text_format_appends_the_ids(restore_root: None) -> None:
    out = io.StringIO()
    setup("INFO", "text", stream=out)
    with bound(sku="TEE/RED/L"):
        logging.getLogger("creatorflow.test").info("low stock")
    assert out.getvalue().rstrip().endswith("creatorflow.test: low stock [sku=TEE/RED/L]")


def test_errors_are_one_json_line_with_the_traceback(restore_root: None) -> None:
    out = io.StringIO()
    setup("INFO", "json", stream=out)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("creatorflow.test").exception("failed")
    (record,) = lines(out)
    assert "RuntimeError: boom" in str(record["error"])


def test_only_known_fields_may_be_bound() -> None:
    with pytest.raises(ValueError, match="password"), bound(password="x"):
        pass


async def test_tasks_inherit_the_ids_of_their_start_and_do_not_leak() -> None:
    seen: dict[str, object] = {}

    async def child(name: str) -> None:
        await anyio.lowlevel.checkpoint()
        seen[name] = dict(current())

    async with anyio.create_task_group() as tg:
        with bound(order_id="a"):
            tg.start_soon(child, "a")
        with bound(order_id="b"):
            tg.start_soon(child, "b")
        tg.start_soon(child, "none")
    assert seen == {"a": {"order_id": "a"}, "b": {"order_id": "b"}, "none": {}}
