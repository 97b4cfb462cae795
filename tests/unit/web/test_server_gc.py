"""serve_http's GC tuning is in force only while serving."""

from __future__ import annotations

import gc

from creatorflow.web.server import GC_GEN0_THRESHOLD, serving_gc


def test_serving_gc_is_undone_afterwards() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with serving_gc():
        assert gc.get_threshold() == (max(before[0], GC_GEN0_THRESHOLD), *before[1:])
        assert gc.get_freeze_count() > frozen  # every object alive now (modules, ...) frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_serving_gc_is_undone_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with serving_gc():
            raise RuntimeError("server failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
