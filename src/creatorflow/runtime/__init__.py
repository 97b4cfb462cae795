"""Generic actor runtime on anyio: bounded mailboxes, actors, supervisors, keyed registries.

No domain words live here. Public names are re-exported from the private ``_x`` modules;
``tests/unit/runtime/test_public_api.py`` pins this surface.
"""

from creatorflow.runtime._actor import Actor, ActorRef, open_actor, run_actor
from creatorflow.runtime._mailbox import Envelope, Mailbox, MailboxStats, Reply

__all__ = [
    "Actor",
    "ActorRef",
    "Envelope",
    "Mailbox",
    "MailboxStats",
    "Reply",
    "open_actor",
    "run_actor",
]
