"""Micro-batching, one lane per owned enrollment partition.

A partition holds whole regions (the topic is keyed by region), so a lane's batches are the unit
of ordering and of commit: one batch at a time per lane, offsets committed only after the batch's
schedule events are acknowledged. Lanes of different partitions run concurrently.

An idle lane that receives work waits for the batch to close: `batch_quiet_ms` without a new
record, `batch_max_wait_ms` after its first one, or `batch_max_size` records. Work that arrived
while a batch was running has already waited, so the next batch starts at once.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition
from iop_contracts import CloudEvent
from iop_contracts.consume import Delivery, describe

from iop_scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)


@dataclass
class Dirty:
    """Why a region needs a solve beyond its new records."""

    retry_waitlist: bool = False
    trigger: CloudEvent | None = None

    def merge(self, retry_waitlist: bool, trigger: CloudEvent | None) -> None:
        self.retry_waitlist |= retry_waitlist
        self.trigger = trigger or self.trigger


class Lane:
    def __init__(
        self,
        tp: TopicPartition,
        settings: SchedulerSettings,
        process: Callable[["Lane"], Awaitable[None]],
    ) -> None:
        self.tp = tp
        self.records: deque[Delivery] = deque()
        self.dirty: dict[str, Dirty] = {}
        self.regions: set[str] = set()
        # The offset to commit once every region is settled (None: nothing new to commit).
        self.commit_offset: int | None = None
        # The offset after everything fetched so far, records dead-lettered on the way included:
        # what to commit once every fetched record is done.
        self.fetched_until: int | None = None
        # `fetched_until` when the last successful batch began: the service commits up to
        # there once the lane's records are all done, so anything fetched beyond it (records
        # that were all dead-lettered on the way included) still needs a batch.
        self._settled_until: int | None = None
        self._settings = settings
        self._process = process
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()
        self._first_at = 0.0
        self._last_at = 0.0
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ feeding

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lane {self.tp.partition}")

    def add(self, records: Iterable[Delivery], until: int | None = None) -> None:
        self.records.extend(records)
        if until is not None:
            self.fetched_until = max(until, self.fetched_until or 0)
        self._touch()

    def mark(self, region_id: str, *, retry_waitlist: bool, trigger: CloudEvent | None) -> None:
        self.dirty.setdefault(region_id, Dirty()).merge(retry_waitlist, trigger)
        self._touch()

    def take(self) -> list[Delivery]:
        """The next batch's records, oldest first, at most `batch_max_size`."""
        count = min(len(self.records), self._settings.batch_max_size)
        return [self.records.popleft() for _ in range(count)]

    @property
    def has_work(self) -> bool:
        """Records to apply, regions to settle, or fetched offsets still to commit: a fetch
        whose records were all dead-lettered delivers nothing, and left uncommitted it would be
        read and dead-lettered again after every restart or rebalance."""
        return bool(self.records or self.dirty) or self.fetched_until != self._settled_until

    @property
    def idle(self) -> bool:
        """Nothing to do and no batch running: every batch so far has been applied, published,
        committed and counted."""
        return not self.has_work and not self._busy.locked()

    def _touch(self) -> None:
        self._last_at = time.monotonic()
        self._wake.set()

    # ------------------------------------------------------------ running

    async def _run(self) -> None:
        backoff = self._settings.retry_backoff_s
        immediate = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.has_work:
                continue
            if not immediate:
                await self._until_closed()
            async with self._busy:
                fetched = self.fetched_until
                try:
                    await self._process(self)
                    self._settled_until = fetched
                    backoff = self._settings.retry_backoff_s
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.exception(
                        "batch failed; retrying",
                        extra={"partition": self.tp.partition, "reason": describe(error)},
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            immediate = self.has_work
            self._first_at = 0.0
            if immediate:
                self._wake.set()

    async def _until_closed(self) -> None:
        quiet = self._settings.batch_quiet_ms / 1000
        max_wait = self._settings.batch_max_wait_ms / 1000
        if self._first_at == 0.0:
            self._first_at = time.monotonic()
        while len(self.records) < self._settings.batch_max_size:
            deadline = min(self._last_at + quiet, self._first_at + max_wait)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return
            self._wake.clear()

    async def close(self, timeout_s: float) -> None:
        """Stop after the running batch (if any) finishes, so its events and commit land; give
        up waiting after `timeout_s` (the next owner redoes what was not committed)."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout_s), self._busy:
                self._task.cancel()
        except TimeoutError:
            log.warning("batch did not finish in time", extra={"partition": self.tp.partition})
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


async def close_all(lanes: Iterable[Lane], timeout_s: float) -> None:
    """Close lanes together: a stop or a revocation waits `timeout_s` at most, not that for
    each lane in turn."""
    await asyncio.gather(*(lane.close(timeout_s) for lane in lanes))
