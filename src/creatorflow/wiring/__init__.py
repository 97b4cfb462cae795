"""Per-capability composition: the only place adapters, actors and the web layer meet.

Each capability is a module with ``install(asm)`` (see ``_assembly.Assembly``). They are
installed in :data:`CAPABILITIES` order, which is the actors' start order (shutdown runs in
reverse: the ingress stops first, the store writer last). Adding a capability is a new module
here plus one line in that tuple.
"""

from __future__ import annotations

from collections.abc import Callable

from creatorflow.wiring import core, inbox, inventory, orders, shipping, suppliers, tiktok
from creatorflow.wiring._assembly import Assembly, Key, Refs

#: ``install`` of every capability, in start order.
CAPABILITIES: tuple[Callable[[Assembly], None], ...] = (
    core.install,  # the store writer: every write goes through it
    tiktok.install,  # the sandbox mount and the authorize route (the client is an edge)
    suppliers.install,  # the sandbox supplier's mount (the client is an edge)
    inventory.install,  # SKU actors, stock sync, keeper, watcher, the reservation step
    shipping.install,  # carrier pool, tracking poller, the label step (after reservation)
    orders.install,  # scheduler (runs the saga steps), order sync, reconciler
    inbox.install,  # pump and ingress, the webhook endpoint
)


def install_all(asm: Assembly) -> None:
    """Install every capability into ``asm``, in order."""
    for install in CAPABILITIES:
        install(asm)


__all__ = ["CAPABILITIES", "Assembly", "Key", "Refs", "install_all"]
