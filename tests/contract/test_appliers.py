"""Every ``WriteOp`` has an applier in every store backend (the open base's exhaustiveness).

The write ops are an open base class: each capability defines its own and registers how its
store modules apply them. This test regains what the closed union proved to the type checker:
a new op without an applier in one backend fails here, not in production.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import creatorflow.adapters.store as store_package
import creatorflow.ports as ports_package
from creatorflow.adapters.store import _registry as registry
from creatorflow.ports import WriteOp


def _load_all() -> None:
    for package in (ports_package, store_package):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def _subclasses(base: type[WriteOp]) -> set[type[WriteOp]]:
    found: set[type[WriteOp]] = set()
    for sub in base.__subclasses__():
        if sub.__module__.startswith("creatorflow."):  # not the test's own stray op
            found.add(sub)
        found |= _subclasses(sub)
    return found


def test_every_write_op_has_an_applier_in_both_backends() -> None:
    _load_all()
    ops = _subclasses(WriteOp)
    assert len(ops) >= 14  # the ops of inbox, orders and inventory at least
    assert ops - set(registry.SQLITE) == set(), "ops with no SQLite applier"
    assert ops - set(registry.POSTGRES) == set(), "ops with no Postgres applier"


def test_postgres_ranks_are_a_total_order() -> None:
    _load_all()
    ranks = [applier.rank for applier in registry.POSTGRES.values()]
    assert len(ranks) == len(set(ranks))


def test_an_op_without_an_applier_is_refused_not_a_crash() -> None:
    from creatorflow.adapters.store._pg_apply import segments
    from creatorflow.errors import StoreError

    class Stray(WriteOp, frozen=True, kw_only=True):
        pass

    with pytest.raises(StoreError, match="Stray"):
        segments([Stray()])
