"""Who holds each Gradio session and event (N16, N27, N28): a key (a `session_hash`, an event id) belongs
to the principal that first used it.

The table is bounded per principal, not as a whole: a principal past `per_principal` keys forgets its own
least recently used one, never another principal's. With one bound for all, a member sending 50,000 fresh
session names pushed everyone else's out, then claimed an admin's event as a session of their own and read
its answer (a fourth helper attack); now a flood only forgets the flooder's keys.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class Owners:
    def __init__(self, per_principal: int = 1000) -> None:
        self.per_principal = per_principal
        self._owner: dict[str, str] = {}
        self._held: dict[str, OrderedDict[str, None]] = {}
        self._lock = threading.Lock()

    def owns(self, key: str, principal: str) -> bool:
        """Whether `key` is known and the principal's."""
        with self._lock:
            return self._owner.get(key) == principal

    def claim(self, key: str, principal: str) -> bool:
        """True when `key` is (now) the principal's; False when another principal holds it."""
        with self._lock:
            owner = self._owner.get(key)
            if owner is not None:
                if owner == principal:
                    self._held[principal].move_to_end(key)
                return owner == principal
            held = self._held.setdefault(principal, OrderedDict())
            held[key] = None
            self._owner[key] = principal
            while len(held) > self.per_principal:
                forgotten, _ = held.popitem(last=False)
                del self._owner[forgotten]
            return True
