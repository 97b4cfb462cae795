"""``Published[T]``: the latest value one component publishes and others read (a board).

One writer calls :meth:`publish`; readers call :meth:`current` (a plain attribute read: no
lock, no await; actors share one event loop). The stock watcher publishes the viral SKUs and
the order scheduler reads them, for example.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Published(Generic[T]):
    """Holds the last published value, starting with ``initial``."""

    __slots__ = ("_value",)

    def __init__(self, initial: T) -> None:
        self._value = initial

    def publish(self, value: T) -> None:
        """Replace the current value."""
        self._value = value

    def current(self) -> T:
        """The last published value."""
        return self._value
