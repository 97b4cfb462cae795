"""A bounded map of per-key objects (limiters, breakers, cached lookups), least recently used out.

``KeyedLru(max_keys, factory)`` builds the object for a key on first use and evicts the least
recently used key when a new one would exceed ``max_keys``; so per-shop or per-carrier state
costs at most ``max_keys`` entries however many keys callers invent. An evicted limiter or
breaker is simply rebuilt fresh on its key's next use (its history is forgotten, which is the
price of the bound; size the cap above the number of live keys).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["KeyedLru"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeyedLru(Generic[K, V]):
    """An LRU-bounded mapping; :meth:`get` creates missing values with ``factory``.

    Args:
        max_keys: most entries kept (>= 1).
        factory: builds the value of a missing key; ``None`` makes :meth:`get` raise KeyError
            for a missing key (a plain bounded cache: use :meth:`put`).
        on_evict: called with ``(key, value)`` for each entry pushed out by the cap.

    Raises:
        ValueError: ``max_keys < 1``.
    """

    def __init__(
        self,
        max_keys: int,
        factory: Callable[[K], V] | None = None,
        *,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"KeyedLru needs max_keys >= 1, got {max_keys!r}")
        self.max_keys = max_keys
        self._factory = factory
        self._on_evict = on_evict
        self._items: OrderedDict[K, V] = OrderedDict()  # bounded: len <= max_keys

    def get(self, key: K) -> V:
        """The value for ``key`` (created if missing), now the most recently used.

        Raises:
            KeyError: ``key`` is missing and there is no factory.
        """
        try:
            value = self._items[key]
        except KeyError:
            if self._factory is None:
                raise
            value = self._factory(key)
            self.put(key, value)
            return value
        self._items.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value for ``key`` or None; creates nothing and does not refresh its age."""
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        """Set ``key`` (most recently used), evicting the oldest entries beyond the cap."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_keys:
            old_key, old_value = self._items.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(old_key, old_value)

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value or None."""
        return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def __repr__(self) -> str:
        return f"KeyedLru(max_keys={self.max_keys!r}, size={len(self._items)})"
