"""Alerts that fall due without any attendance: a week falls out of reach by cancellations
(a closure, a facilitator with no cover) or simply as days pass with nothing recorded.

Every `alert_tick_s` the clock evaluates the clients that schedule events touched since its last
look (a roster or staffing change touches everyone), and every client once a day has turned at
any site (and on its first look, after a start). Only clients whose attendance partition this
instance owns are evaluated (`AttendanceOwnership`): each client has one clock.
"""

import asyncio
import logging
from collections.abc import Iterable
from datetime import date

from iop_contracts import EVENT_TYPES, CloudEvent, topics

from iop_clinic.adapters.alerts import AlertDesk, AttendanceOwnership
from iop_clinic.errors import ClinicError
from iop_clinic.runtime import ClinicRuntime

log = logging.getLogger(__name__)

_EVERYONE_TOPICS = frozenset({topics.ROSTER, topics.STAFFING})


class AlertClock:
    def __init__(
        self, runtime: ClinicRuntime, alerts: AlertDesk, ownership: AttendanceOwnership
    ) -> None:
        self._runtime = runtime
        self._alerts = alerts
        self._ownership = ownership
        self._touched: set[str] = set()
        self._everyone = True  # the first look evaluates everyone
        self._days: dict[str, date] = {}
        self.looks = 0  # how many looks are done (tests wait for one)

    def fold(self, event: CloudEvent) -> bool:
        """The table reader's apply: into the read model, noting whom a change may put at risk."""
        changed = self._runtime.model.apply(event)
        kind = EVENT_TYPES.get(event.type)
        if changed and kind is not None:
            topic = kind.topic
            if topic in _EVERYONE_TOPICS:
                self._everyone = True
            elif topic == topics.SCHEDULE and event.subject:
                self._touched.add(event.subject)
        return changed

    def owns_any(self) -> bool:
        return self._ownership.owns_any()

    async def run(self) -> None:
        await self._runtime.model_ready.wait()
        while True:
            await asyncio.sleep(self._runtime.settings.alert_tick_s)
            try:
                await self.look()
            except ClinicError as error:  # the broker away: everyone again on the next look
                self._everyone = True
                log.warning("alert look failed", extra={"reason": type(error).__name__})

    async def look(self) -> int:
        """One look; how many alerts it published."""
        everyone = self._day_turned() or self._everyone
        due: Iterable[str] = self._runtime.model.client_ids() if everyone else self._touched
        clients = sorted(c for c in due if self._ownership.owns(c))
        self._everyone, self._touched = False, set()
        published = await self._alerts.sweep(clients)
        self.looks += 1
        if published:
            log.info("alerts published by the clock", extra={"count": published})
        return published

    def _day_turned(self) -> bool:
        turned = False
        for site in self._runtime.model.sites():
            today = self._runtime.site_today(site.site_id)
            turned |= self._days.get(site.site_id, today) != today
            self._days[site.site_id] = today
        return turned
