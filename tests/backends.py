"""The async backends tests run on, and how a test or a parameter asks for fewer of them.

Every ``@pytest.mark.anyio`` test runs on asyncio, asyncio + uvloop and trio (the
``anyio_backend`` fixture in ``conftest.py``). What cannot run on trio (asyncpg, redis-py,
uvicorn) gets no trio copy at all, instead of a copy that skips, so that the skip count shows
only honest skips (a service down, a case root cannot check):

* a test, class or module: ``@pytest.mark.asyncio_only`` (asyncio and uvloop);
* other choices: ``@on_backends(TRIO)``, ``pytestmark = on_backends(ASYNCIO)``;
* a parameter that needs asyncio, crossed with the backends: mark it
  ``pytest.param(..., marks=pytest.mark.asyncio_only)`` and parametrize with
  ``per_backend(params)`` (``pair_with_backends`` does it for a parametrized fixture).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from _pytest.mark import ParameterSet

ASYNCIO = pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio")
UVLOOP = pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")
TRIO = pytest.param(("trio", {}), id="trio")
BACKENDS = [ASYNCIO, UVLOOP, TRIO]
ASYNCIO_BACKENDS = [ASYNCIO, UVLOOP]

#: Needs asyncio: on a test (no trio copy is generated) or on a parameter (see per_backend).
NEEDS_ASYNCIO = "asyncio_only"


def on_backends(*backends: ParameterSet) -> pytest.MarkDecorator:
    """Run the marked test(s) on these backends only."""
    return pytest.mark.parametrize("anyio_backend", backends)


def per_backend(params: Sequence[ParameterSet]) -> list[ParameterSet]:
    """``(backend, value)`` cases: every parameter on every backend, except the trio copy of a
    parameter marked ``asyncio_only``. Ids read ``<backend>-<param>``; marks are kept."""
    cases: list[ParameterSet] = []
    for backend in BACKENDS:
        for param in params:
            if backend is TRIO and any(mark.name == NEEDS_ASYNCIO for mark in param.marks):
                continue
            cases.append(
                pytest.param(
                    backend.values[0],
                    *param.values,
                    id=f"{backend.id}-{param.id}",
                    marks=param.marks,
                )
            )
    return cases


def pair_with_backends(metafunc: pytest.Metafunc, fixture: str, params: Sequence[Any]) -> None:
    """For a ``pytest_generate_tests`` hook that runs before pytest's own (``tryfirst``, or a
    test module's): parametrize ``fixture`` (indirect, it reads ``request.param``) together
    with ``anyio_backend``, as :func:`per_backend` crosses them."""
    if fixture not in metafunc.fixturenames:
        return
    metafunc.definition.add_marker(
        pytest.mark.parametrize(("anyio_backend", fixture), per_backend(params), indirect=[fixture])
    )


def parametrizes(metafunc: pytest.Metafunc, argname: str) -> bool:
    """Whether a ``parametrize`` mark of the test already names ``argname``."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if argname in names:
            return True
    return False
