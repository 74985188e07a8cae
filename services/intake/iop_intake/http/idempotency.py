"""Idempotency-Key support: a retried POST creates one event.

The event id of a keyed request is derived from (caller, route, key), so the event a retry would
create is the one already on the topic: intake finds it in its projection (rebuilt from the topic,
so this survives restarts) and answers 202 again without publishing. This store only remembers
which body each key came with, to refuse a key reused for a different request (422), and
serialises concurrent requests carrying the same key.
"""

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from iop_intake.domain.admission import derived_event_id

_STRIPES = 256


class KeyReused(ValueError):
    """The Idempotency-Key was first used with a different request body."""


class IdempotencyStore:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._fingerprints: OrderedDict[str, str] = OrderedDict()
        # Striped locks: bounded memory, and two requests with one key always share a lock.
        self._locks = [asyncio.Lock() for _ in range(_STRIPES)]

    @staticmethod
    def slot(principal: str, route: str, key: str) -> str:
        return "\x1f".join((principal, route, key))

    @staticmethod
    def event_id(slot: str) -> str:
        return derived_event_id("http", slot)

    @asynccontextmanager
    async def claim(self, slot: str, body: bytes) -> AsyncIterator[None]:
        """Hold the key's lock; raise KeyReused when the key came with another body before."""
        fingerprint = hashlib.sha256(body).hexdigest()
        lock = self._locks[int(hashlib.sha256(slot.encode()).hexdigest()[:8], 16) % _STRIPES]
        async with lock:
            seen = self._fingerprints.get(slot)
            if seen is not None and seen != fingerprint:
                raise KeyReused("Idempotency-Key was used with a different request")
            yield
            self._fingerprints[slot] = fingerprint
            self._fingerprints.move_to_end(slot)
            while len(self._fingerprints) > self._capacity:
                self._fingerprints.popitem(last=False)
