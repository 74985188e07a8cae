"""The independent rule checker: every hard rule of SCHEDULING.md over a snapshot and an output.

Written apart from the solver on purpose: it imports neither ortools nor the solver's parsing or
rule predicates, so a misreading in one is caught by the other. It reads the plain dicts, checks
every scheduled client, group and therapist, and reports each broken rule with who is involved.

Dates (rules 4, 7 and 9). A client holds a seat, a caseload place and their weekly sessions from
``start_date`` to ``end_date``; a facilitator holds a group's sessions from the earliest start to
the latest end of its clients. Capacity and caseload count per date, weekly hours per calendar
week (Monday to Sunday; a session counts in every week its dates meet), and two sessions clash
only if their dates meet. Dates before the snapshot's ``as_of`` (today) are history no schedule
made today can change, and are not counted. A schedule made in this solve (new, or changed)
starts at most ``admission_horizon_days`` after the earliest date it may start.

Make-ups (rule 12). The snapshot's optional ``makeups`` are those granted before: each holds a
seat of its group on its date (rule 4, from today on). The output's optional ``makeups`` are
granted now and are checked one by one: the client is scheduled; a group of their track,
population, language and gender rule, not their own, that they can reach; inside their
availability and the site's windows; overlapping none of their own sessions that date (their
group's and individual session, their other make-ups; cancelled or not); on a date from today
within their programme on which the group is held (a client of it attends, the site is open,
the facilitator is present or covered by a substitute of the snapshot's ``substitutions``); run
by whoever runs it that date; and a free seat that date beside the group's clients and every
other make-up. The output's optional ``makeups_unavailable`` must be true: no occurrence of the
week meets those rules, ``groups_full`` only when one would but for its seat, and
``no_group_in_availability`` only when none would even then.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLINICAL = {"LCSW", "LPC", "LMHC", "LMFT", "PsyD", "PhD", "MD", "PMHNP"}
_ADDICTION = {"LADC", "CADC", "LCADC", "CAADC", "LAC", "CSAC"}
_MIN_HOURS = {"adult": 9.0, "adolescent": 6.0}
_GROUP_GENDER = {"woman": "women", "man": "men"}
_DEFAULT_WINDOWS = [{"day": d, "start": "17:00", "end": "21:30"} for d in _DAYS[:5]] + [
    {"day": d, "start": "08:00", "end": "18:00"} for d in _DAYS[5:]
]
_REASON_CODES = {
    "no_group_in_availability",
    "groups_full",
    "no_language_match",
    "no_credentialed_therapist",
    "therapist_capacity",
    "insufficient_weekly_hours",
    "site_not_accessible",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    client_id: str | None = None
    group_id: str | None = None
    therapist_id: str | None = None

    def __str__(self) -> str:
        who = " ".join(
            f"{k}={v}"
            for k, v in (
                ("client", self.client_id),
                ("group", self.group_id),
                ("therapist", self.therapist_id),
            )
            if v
        )
        return f"[{self.rule}] {self.message}" + (f" ({who})" if who else "")


Span = tuple[int, int]  # [start, end) in minutes of the week
Dates = tuple[date, date]  # start and end, inclusive
ALWAYS: Dates = (date.min, date.max)


def _minute(clock: str) -> int:
    h, m = str(clock).split(":")
    return int(h) * 60 + int(m)


def _span(block: Mapping[str, Any]) -> Span:
    base = _DAYS.index(str(block["day"])) * 1440
    return base + _minute(block["start"]), base + _minute(block["end"])


def _spans(blocks: Iterable[Mapping[str, Any]] | None) -> list[Span]:
    return sorted(_span(b) for b in blocks or [])


def _inside(span: Span, blocks: list[Span]) -> bool:
    """Inside ONE block. Touching or overlapping availability entries (thu 17:00-19:00 and
    19:00-22:00) are not joined: a session across the seam is outside (the project's reading of
    "inside the availability", applied alike to clients, therapists and site windows, and to
    the ``no_group_in_availability`` reason)."""
    return any(b[0] <= span[0] and span[1] <= b[1] for b in blocks)


def _overlap(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _hours(spans: Iterable[Span]) -> float:
    return sum(e - s for s, e in spans) / 60


def _schedule_dates(schedule: Mapping[str, Any]) -> Dates:
    """A schedule's dates; unreadable ones (reported under ``dates``) count as always."""
    try:
        return date.fromisoformat(schedule["start_date"]), date.fromisoformat(schedule["end_date"])
    except (KeyError, ValueError, TypeError):
        return ALWAYS


def _from(dates: Dates, floor: date | None) -> Dates | None:
    """The part of ``dates`` on or after ``floor`` (None: nothing left)."""
    if floor is None or dates[0] >= floor:
        return dates
    return None if dates[1] < floor else (floor, dates[1])


def _meet(a: Dates, b: Dates) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _peak(loads: list[tuple[Dates, float]]) -> tuple[float, date | None]:
    """The highest total load on one date, and the first date it is reached."""
    best, when = 0.0, None
    for day in sorted({d[0] for d, _ in loads}):
        total = sum(n for d, n in loads if d[0] <= day <= d[1])
        if total > best + 1e-9:
            best, when = total, day
    return best, when


def _weekly_peak(loads: list[tuple[Dates, float]]) -> tuple[float, date | None]:
    """``_peak`` in weeks: a load counts in every week its dates meet."""
    return _peak([((_monday(d[0]), _monday(d[1])), n) for d, n in loads])


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _makeup_span(m: Mapping[str, Any], day: date) -> Span | None:
    """A make-up's time on its date's weekday (None when malformed)."""
    try:
        span = _span({"day": _DAYS[day.weekday()], "start": m["start"], "end": m["end"]})
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    return span if span[0] < span[1] else None


def _week_dates(week: Any) -> list[date]:
    """The seven dates of an ISO week 'YYYY-Www' (none when malformed)."""
    try:
        year, number = str(week).split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        return []
    return [monday + timedelta(days=n) for n in range(7)]


def _versions(snapshot: Mapping[str, Any]) -> dict[str, int]:
    """``schedule_versions``: the highest ``schedule_version`` consumers have seen per client
    (optional; the scheduler service may pass it so that a client placed again after
    ``client.unscheduled`` gets a version above it). Absent, a new schedule's version is 1."""
    raw = snapshot.get("schedule_versions") or {}
    out: dict[str, int] = {}
    if isinstance(raw, Mapping):
        for cid, version in raw.items():
            if isinstance(version, int) and not isinstance(version, bool):
                out[str(cid)] = version
    return out


def _content(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule without its version: what a consumer sees change."""
    return {k: v for k, v in schedule.items() if k != "schedule_version"}


def _version(schedule: Mapping[str, Any]) -> int | None:
    version = schedule.get("schedule_version")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    return None


class _Checker:
    def __init__(
        self,
        snapshot: Mapping[str, Any],
        output: Mapping[str, Any],
        individual_minutes: int = 60,
        admission_horizon_days: int = 28,
        existing: bool = False,
    ) -> None:
        self.individual_minutes = individual_minutes
        self.horizon = admission_horizon_days
        # Checking the snapshot's own existing schedules (stability): they were made on an
        # earlier day, so today's floor and horizon for new starts do not apply to them.
        self.existing = existing
        self.versions = _versions(snapshot)
        self.sites = {s["site_id"]: s for s in snapshot.get("sites") or []}
        self.groups = {g["group_id"]: g for g in snapshot.get("groups") or []}
        self.therapists = {t["therapist_id"]: t for t in snapshot.get("therapists") or []}
        self.clients = {e["client_id"]: e for e in snapshot.get("enrollments") or []}
        self.old = {s["client_id"]: s for s in snapshot.get("schedules") or []}
        self.as_of = snapshot.get("as_of")
        self.floor = date.fromisoformat(self.as_of) if self.as_of else None
        self.output = output
        self.findings: list[Finding] = []
        self.snapshot = snapshot
        self.booked = [m for m in snapshot.get("makeups") or [] if isinstance(m, Mapping)]
        self.covers = {
            (c.get("group_id"), str(c.get("date"))): c
            for c in snapshot.get("substitutions") or []
            if isinstance(c, Mapping)
        }

    def add(
        self,
        rule: str,
        message: str,
        client: str | None = None,
        group: str | None = None,
        therapist: str | None = None,
    ) -> None:
        self.findings.append(Finding(rule, message, client, group, therapist))

    def live(self, schedule: Mapping[str, Any]) -> Dates | None:
        """A schedule's dates from today on."""
        return _from(_schedule_dates(schedule), self.floor)

    def uncovered(self, group_id: Any) -> set[str]:
        """The group's meetings the existing schedules show cancelled for want of a substitute
        (rule 11's no_cover): rule 9 starts nobody new on one."""
        return {
            str(entry.get("date"))
            for old in self.old.values()
            if (old.get("group") or {}).get("group_id") == group_id
            for entry in old.get("cancelled") or ()
            if entry.get("kind") == "group" and entry.get("reason") == "no_cover"
        }

    def windows(self, site_id: str) -> list[Span]:
        site = self.sites[site_id]
        blocks = site.get("windows")
        return _spans(_DEFAULT_WINDOWS if blocks is None else blocks)

    # ----- coverage ---------------------------------------------------------------------------

    def coverage(self) -> None:
        seen: Counter[str] = Counter()
        for s in self.output.get("scheduled") or []:
            seen[s.get("client_id")] += 1
        for w in self.output.get("waitlisted") or []:
            seen[w.get("client_id")] += 1
        for cid in self.clients:
            if seen[cid] != 1:
                self.add("coverage", f"enrollment appears {seen[cid]} times, not once", cid)
        for cid in seen:
            if cid not in self.clients:
                self.add("coverage", "output names a client with no enrollment", cid)

    # ----- one client's schedule --------------------------------------------------------------

    def schedule(self, s: Mapping[str, Any]) -> None:
        cid = s.get("client_id")
        client = self.clients.get(cid)
        g_out = s.get("group") or {}
        ind = s.get("individual") or {}
        gid, tid, fid = g_out.get("group_id"), ind.get("therapist_id"), g_out.get("facilitator_id")
        group = self.groups.get(gid)
        if client is None:
            return
        if group is None:
            self.add("payload", "scheduled into a group the roster does not hold", cid, gid)
            return
        if group.get("site_id") not in self.sites:
            self.add("payload", "group's site is not in the roster", cid, gid)
            return
        site = self.sites[group["site_id"]]
        if s.get("region_id") != client.get("region_id"):
            self.add(
                "payload",
                f"region_id {s.get('region_id')!r} is not the enrollment's "
                f"{client.get('region_id')!r}",
                cid,
            )
        if s.get("timezone") != site.get("timezone"):
            self.add(
                "payload",
                f"timezone {s.get('timezone')!r} is not the group's site's "
                f"{site.get('timezone')!r}",
                cid,
                gid,
            )
        sessions = _spans(group["sessions"])
        if (
            _spans(g_out.get("sessions")) != sessions
            or g_out.get("site_id") != group["site_id"]
            or g_out.get("delivery", "in_person") != group.get("delivery", "in_person")
        ):
            self.add("payload", "group sessions, site or delivery differ from the roster", cid, gid)
        # Rule 1
        if (client["track"], client["population"], client["language"]) != (
            group["track"],
            group["population"],
            group["language"],
        ):
            self.add("group_fit", "track, population or language differ", cid, gid)
        gender = group.get("gender", "any")
        if gender != "any" and _GROUP_GENDER.get(client.get("gender", "")) != gender:
            self.add("group_fit", f"{gender} group for a client of another gender", cid, gid)
        # Rule 2
        prefs = client.get("preferred_site_ids") or []
        if group.get("delivery", "in_person") == "telehealth":
            if not client.get("accepts_telehealth") or site["region_id"] != client["region_id"]:
                self.add("access", "telehealth group not accessible to the client", cid, gid)
        elif group["site_id"] not in prefs:
            self.add("access", "in-person group at a site the client did not choose", cid, gid)
        # Rule 3
        avail = _spans(client.get("availability"))
        gwin = self.windows(str(group["site_id"]))
        for span in sessions:
            if not _inside(span, avail):
                self.add("time", "group session outside the client's availability", cid, gid)
            if not _inside(span, gwin):
                self.add("time", "group session outside its site's windows", cid, gid)
        ind_span: Span | None = None
        try:
            ind_span = _span(ind)
        except (KeyError, ValueError):
            self.add("payload", "individual session has no valid day/start/end", cid)
        therapist = self.therapists.get(tid)
        if therapist is None:
            self.add("payload", "individual therapist not in the roster", cid, therapist=tid)
        if ind_span is not None:
            if ind_span[1] <= ind_span[0]:
                self.add("payload", "individual session ends before it starts", cid)
            elif ind_span[1] - ind_span[0] != self.individual_minutes:
                self.add(
                    "individual",
                    f"individual session lasts {ind_span[1] - ind_span[0]} "
                    f"minutes, not {self.individual_minutes}",
                    cid,
                    therapist=tid,
                )
            if not _inside(ind_span, avail):
                self.add("time", "individual session outside the client's availability", cid)
            ind_site = ind.get("site_id")
            if ind_site not in self.sites:
                self.add("payload", "individual session's site not in the roster", cid)
            else:
                if not _inside(ind_span, self.windows(str(ind_site))):
                    self.add("time", "individual session outside its site's windows", cid)
                if ind.get("delivery") == "telehealth":
                    if not client.get("accepts_telehealth"):
                        self.add("access", "telehealth individual for a client who declines", cid)
                    if self.sites[ind_site]["region_id"] != client["region_id"]:
                        self.add("access", "telehealth individual attributed outside region", cid)
                    if therapist is not None and not therapist.get("telehealth"):
                        self.add(
                            "therapist_site",
                            "telehealth session by a therapist who does not do telehealth",
                            cid,
                            therapist=tid,
                        )
                else:
                    if ind_site not in prefs:
                        self.add(
                            "access", "individual session at a site the client did not choose", cid
                        )
                    if therapist is not None and ind_site not in (therapist.get("site_ids") or []):
                        self.add(
                            "therapist_site",
                            "in-person session at a site the therapist does not work at",
                            cid,
                            therapist=tid,
                        )
            if any(_overlap(ind_span, span) for span in sessions):
                self.add("client_overlap", "individual session overlaps a group session", cid, gid)
            if therapist is not None and not _inside(
                ind_span, _spans(therapist.get("availability"))
            ):
                self.add(
                    "therapist_availability",
                    "individual session outside the therapist's availability",
                    cid,
                    therapist=tid,
                )
        # Rule 5
        ind_hours = 0.0 if ind_span is None else (ind_span[1] - ind_span[0]) / 60
        total = _hours(sessions) + ind_hours
        low = _MIN_HOURS.get(client["population"], 9.0)
        if not low <= total < 20:
            self.add("weekly_hours", f"{total:g} weekly hours outside [{low:g}, 20)", cid, gid)
        stated = s.get("weekly_hours")
        if (
            not isinstance(stated, int | float)
            or isinstance(stated, bool)
            or abs(float(stated) - total) > 1e-6
        ):
            self.add(
                "payload",
                f"weekly_hours {stated!r} is not group + individual hours ({total:g})",
                cid,
            )
        # Rule 6 for the individual therapist (facilitators are checked per group)
        if therapist is not None:
            creds = set(therapist.get("credentials") or [])
            ok = {
                "mental_health": bool(creds & _CLINICAL),
                "substance_use": bool(creds & (_CLINICAL | _ADDICTION)),
                "dual_diagnosis": bool(creds & _CLINICAL),
            }.get(client["track"], False)
            if not ok:
                self.add(
                    "credentials",
                    "individual therapist lacks the track's credential",
                    cid,
                    therapist=tid,
                )
            if client["population"] not in (therapist.get("populations") or []):
                self.add(
                    "credentials",
                    "individual therapist does not serve the population",
                    cid,
                    therapist=tid,
                )
            if client["language"] not in (therapist.get("languages") or []):
                self.add(
                    "credentials",
                    "individual therapist does not speak the language",
                    cid,
                    therapist=tid,
                )
        if fid is None:
            self.add("facilitation", "schedule names no facilitator", cid, gid)
        # Rule 9
        self.dates(s, client, group)

    def dates(
        self, s: Mapping[str, Any], client: Mapping[str, Any], group: Mapping[str, Any]
    ) -> None:
        cid, gid = client["client_id"], group["group_id"]
        try:
            start = date.fromisoformat(s["start_date"])
            end = date.fromisoformat(s["end_date"])
        except (KeyError, ValueError, TypeError):
            self.add("dates", "missing or malformed dates", cid, gid)
            return
        if start < date.fromisoformat(client["requested_start"]):
            self.add("dates", "start before requested_start", cid, gid)
        if group.get("open_from") and start < date.fromisoformat(group["open_from"]):
            self.add("dates", "start before the group's open_from", cid, gid)
        if _DAYS[start.weekday()] not in {b["day"] for b in group["sessions"]}:
            self.add("dates", "start on a day the group does not meet", cid, gid)
        if end != start + timedelta(weeks=int(client["program_weeks"])) - timedelta(days=1):
            self.add("dates", "end_date is not start + program_weeks weeks - 1 day", cid, gid)
        if self.existing or dict(s) == dict(self.old.get(cid) or {}):
            return  # made on an earlier day: today's floor and horizon do not apply
        if self.floor and cid not in self.old and start < self.floor:
            self.add("dates", "new schedule starts before as_of", cid, gid)
        floors = [client["requested_start"], group.get("open_from"), self.as_of]
        earliest = max(date.fromisoformat(d) for d in floors if d)
        if start > earliest + timedelta(days=self.horizon):
            self.add(
                "dates",
                f"start more than {self.horizon} days after {earliest.isoformat()}, "
                "the earliest it may be",
                cid,
                gid,
            )
        site = self.sites.get(group.get("site_id")) or {}
        if start.isoformat() in {str(d) for d in site.get("closed_dates") or ()}:
            self.add("dates", "new schedule starts on a day its site is closed", cid, gid)
        if start.isoformat() in self.uncovered(gid):
            self.add(
                "dates", "new schedule starts on a meeting cancelled for want of cover", cid, gid
            )

    # ----- groups -----------------------------------------------------------------------------

    def groups_rules(self, scheduled: list[Mapping[str, Any]]) -> None:
        members: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for s in scheduled:
            members[(s.get("group") or {}).get("group_id")].append(s)
        booked_only = [m.get("group_id") for m in self.booked if m.get("group_id") not in members]
        for gid in [*members, *dict.fromkeys(booked_only)]:
            rows = members.get(gid, [])
            group = self.groups.get(gid)
            if group is None:
                continue
            seats = [(d, 1.0) for r in rows if (d := self.live(r)) is not None]
            count, day = _peak(seats + self.booked_seats(gid))
            if count > int(group["capacity"]):
                self.add(
                    "capacity",
                    f"{count:g} clients on {day} in a group of {group['capacity']}",
                    group=gid,
                )
            if not rows:
                continue  # seats held by make-ups alone: no facilitator to check
            facs = {(r.get("group") or {}).get("facilitator_id") for r in rows}
            if len(facs) != 1:
                self.add("facilitation", f"{len(facs)} different facilitators", group=gid)
            fixed = group.get("facilitator_id")
            if fixed is not None and facs != {fixed}:
                self.add("facilitation", "facilitator differs from the roster's", group=gid)
            # A missing facilitator is already reported per schedule ("names no facilitator");
            # checking None against the roster would report the same fault a second time.
            for fid in facs - {None}:
                self.facilitator(group, fid)

    def booked_seats(self, gid: Any) -> list[tuple[Dates, float]]:
        """Rule 4: a make-up granted before holds a seat of its group on its date (from today)."""
        seats: list[tuple[Dates, float]] = []
        for m in self.booked:
            day = _day(m.get("date"))
            if m.get("group_id") == gid and day is not None and _from((day, day), self.floor):
                seats.append(((day, day), 1.0))
        return seats

    def facilitator(self, group: Mapping[str, Any], fid: Any) -> None:
        gid = group["group_id"]
        t = self.therapists.get(fid)
        if t is None:
            self.add("facilitation", "facilitator not in the roster", group=gid, therapist=fid)
            return
        creds = set(t.get("credentials") or [])
        clinical, addiction = bool(creds & _CLINICAL), bool(creds & _ADDICTION)
        ok = {
            "mental_health": clinical,
            "substance_use": addiction,
            "dual_diagnosis": clinical and addiction,
        }.get(group["track"], False)
        if not ok:
            self.add(
                "credentials", "facilitator lacks the track's credential", group=gid, therapist=fid
            )
        modality = group.get("modality")
        if modality in ("dbt", "trauma_informed") and modality not in (t.get("modalities") or []):
            self.add(
                "credentials", f"facilitator not trained in {modality}", group=gid, therapist=fid
            )
        if group["population"] not in (t.get("populations") or []) or group["language"] not in (
            t.get("languages") or []
        ):
            self.add(
                "credentials",
                "facilitator does not serve the population or language",
                group=gid,
                therapist=fid,
            )
        avail = _spans(t.get("availability"))
        if not all(_inside(span, avail) for span in _spans(group["sessions"])):
            self.add(
                "therapist_availability",
                "group session outside the facilitator's availability",
                group=gid,
                therapist=fid,
            )
        if group.get("delivery", "in_person") == "telehealth":
            if not t.get("telehealth"):
                self.add(
                    "therapist_site",
                    "telehealth group by a non-telehealth facilitator",
                    group=gid,
                    therapist=fid,
                )
        elif group["site_id"] not in (t.get("site_ids") or []):
            self.add(
                "therapist_site",
                "facilitator does not work at the group's site",
                group=gid,
                therapist=fid,
            )

    # ----- therapists -------------------------------------------------------------------------

    def group_dates(self, scheduled: list[Mapping[str, Any]]) -> dict[Any, Dates]:
        """Each group's dates: from its clients' earliest start to their latest end."""
        spans: dict[Any, Dates] = {}
        for s in scheduled:
            gid = (s.get("group") or {}).get("group_id")
            start, end = _schedule_dates(s)
            old = spans.get(gid, (start, end))
            spans[gid] = (min(old[0], start), max(old[1], end))
        return spans

    def therapist_rules(self, scheduled: list[Mapping[str, Any]], travel: int = 30) -> None:
        held: dict[Any, list[tuple[Span, str | None, str, Dates]]] = defaultdict(list)
        clients: dict[Any, list[Dates]] = defaultdict(list)
        spans = self.group_dates(scheduled)
        facilitated: set[tuple[Any, Any]] = set()
        for s in scheduled:
            g_out, ind = s.get("group") or {}, s.get("individual") or {}
            gid, fid = g_out.get("group_id"), g_out.get("facilitator_id")
            group = self.groups.get(gid)
            running = _from(spans[gid], self.floor)
            if group is not None and fid is not None and (gid, fid) not in facilitated:
                facilitated.add((gid, fid))
                place = None if group.get("delivery") == "telehealth" else group["site_id"]
                if running is not None:
                    for span in _spans(group["sessions"]):
                        held[fid].append((span, place, f"group {gid}", running))
            tid, dates = ind.get("therapist_id"), self.live(s)
            try:
                span = _span(ind)
            except (KeyError, ValueError):
                continue
            if dates is None:
                continue  # a programme that ended before today holds nothing any more
            place = ind.get("site_id") if ind.get("delivery") != "telehealth" else None
            held[tid].append((span, place, f"individual {s.get('client_id')}", dates))
            clients[tid].append(dates)
        for tid, items in held.items():
            t = self.therapists.get(tid)
            if t is not None:
                self.sessions_apart(tid, items, travel)
                self.therapist_load(tid, t, items, clients[tid])

    def sessions_apart(
        self, tid: Any, items: list[tuple[Span, str | None, str, Dates]], travel: int
    ) -> None:
        """Rule 7: a therapist's sessions whose dates meet neither overlap nor leave less than
        ``travel`` minutes between sites on one day."""
        # By span, then label: two sessions at the same time, one telehealth (place None)
        # and one in person, must be reported as an overlap, not crash the comparison.
        items.sort(key=lambda item: (item[0], item[2]))
        for i, (a, a_site, a_what, a_dates) in enumerate(items):
            for b, b_site, b_what, b_dates in items[i + 1 :]:
                if b[0] >= a[1] + travel:
                    break
                if not _meet(a_dates, b_dates):
                    continue
                if _overlap(a, b):
                    self.add("therapist_overlap", f"{a_what} overlaps {b_what}", therapist=tid)
                elif (
                    a_site
                    and b_site
                    and a_site != b_site
                    and a[0] // 1440 == b[0] // 1440
                    and b[0] - a[1] < travel
                ):
                    self.add(
                        "therapist_travel",
                        f"{a_what} and {b_what} at different sites less than {travel} min apart",
                        therapist=tid,
                    )

    def therapist_load(
        self,
        tid: Any,
        t: Mapping[str, Any],
        items: list[tuple[Span, str | None, str, Dates]],
        clients: list[Dates],
    ) -> None:
        """Rule 7: individual clients <= ``max_caseload`` on every date; facilitated group hours
        + individual hours <= ``max_weekly_hours`` in every week."""
        caseload, day = _peak([(d, 1.0) for d in clients])
        if caseload > int(t["max_caseload"]):
            self.add(
                "caseload",
                f"{caseload:g} individual clients on {day}, max {t['max_caseload']}",
                therapist=tid,
            )
        hours, week = _weekly_peak([(d, (span[1] - span[0]) / 60) for span, _, _, d in items])
        if hours > float(t["max_weekly_hours"]) + 1e-9:
            self.add(
                "therapist_hours",
                f"{hours:g} weekly hours in the week of {week}, max {t['max_weekly_hours']}",
                therapist=tid,
            )

    # ----- stability and waitlist -------------------------------------------------------------

    def stability(self, scheduled: list[Mapping[str, Any]]) -> None:
        """Rule 10: an existing schedule is kept unless it breaks a rule under the current
        roster (alone, or together with the other existing schedules)."""
        new_by_client = {s.get("client_id"): s for s in scheduled}
        rescheduled = {
            r.get("client_id") if isinstance(r, Mapping) else r
            for r in self.output.get("rescheduled") or []
        }
        old_rows = [o for cid, o in self.old.items() if cid in self.clients]
        old_check = _Checker(
            {
                "sites": list(self.sites.values()),
                "groups": list(self.groups.values()),
                "therapists": list(self.therapists.values()),
                "enrollments": list(self.clients.values()),
                "as_of": self.as_of,
            },
            {"scheduled": old_rows},
            self.individual_minutes,
            self.horizon,
            existing=True,
        )
        for row in old_rows:
            old_check.schedule(row)
        old_check.groups_rules(old_rows)
        old_check.therapist_rules(old_rows)
        broken_clients = {f.client_id for f in old_check.findings if f.client_id}
        broken_groups = {f.group_id for f in old_check.findings if f.group_id}
        broken_therapists = {f.therapist_id for f in old_check.findings if f.therapist_id}
        for cid, old in self.old.items():
            if cid not in self.clients:
                continue
            new = new_by_client.get(cid)
            if new is not None and dict(new) == dict(old):
                continue
            ind = old.get("individual") or {}
            grp = old.get("group") or {}
            justified = (
                cid in broken_clients
                or grp.get("group_id") in broken_groups
                or ind.get("therapist_id") in broken_therapists
                or grp.get("facilitator_id") in broken_therapists
            )
            if not justified:
                self.add("stability", "a still-valid schedule was changed or dropped", cid)
            if new is not None:
                before = max(_version(old) or 1, self.versions.get(cid, 0))
                if _version(new) != before + 1:
                    self.add(
                        "stability",
                        f"moved schedule has version "
                        f"{new.get('schedule_version')!r}, not {before + 1}",
                        cid,
                    )
                if cid not in rescheduled:
                    self.add("stability", "changed schedule not listed in rescheduled", cid)
        for cid in sorted(rescheduled, key=str):
            old_row = self.old.get(cid)
            new = new_by_client.get(cid)
            if old_row is None or new is None:
                self.add(
                    "stability",
                    "listed in rescheduled without both an existing and a new schedule",
                    cid,
                )
            elif _content(new) == _content(old_row):
                self.add("stability", "listed in rescheduled, yet its schedule did not change", cid)
        for s in scheduled:
            cid = s.get("client_id")
            expected = self.versions.get(str(cid), 0) + 1
            if cid not in self.old and _version(s) != expected:
                self.add(
                    "payload",
                    f"a new schedule's version is {s.get('schedule_version')!r}, not {expected}",
                    cid,
                )

    def waitlist(self) -> None:
        for w in self.output.get("waitlisted") or []:
            cid = w.get("client_id")
            client = self.clients.get(cid)
            reasons = w.get("reasons") or []
            if not reasons or set(reasons) - _REASON_CODES:
                self.add("waitlist", "missing or unknown reason codes", cid)
            if client is None:
                continue
            contact = client.get("contact") or {}
            detail = str(w.get("detail") or "")
            for value in contact.values():
                if isinstance(value, str) and len(value) > 2 and value in detail:
                    self.add("personal_data", "waitlist detail contains contact data", cid)
            if "no_group_in_availability" in reasons and self.group_fits_1_to_3(client):
                self.add("waitlist", "no_group_in_availability, yet a group fits rules 1-3", cid)

    def group_fits_1_to_3(self, client: Mapping[str, Any]) -> bool:
        avail = _spans(client.get("availability"))  # one entry, as for placements
        for group in self.groups.values():
            site = self.sites.get(group.get("site_id"))
            if site is None or (group["track"], group["population"], group["language"]) != (
                client["track"],
                client["population"],
                client["language"],
            ):
                continue
            gender = group.get("gender", "any")
            if gender != "any" and _GROUP_GENDER.get(client.get("gender", "")) != gender:
                continue
            if group.get("delivery", "in_person") == "telehealth":
                if not client.get("accepts_telehealth") or site["region_id"] != client["region_id"]:
                    continue
            elif group["site_id"] not in (client.get("preferred_site_ids") or []):
                continue
            spans = _spans(group["sessions"])
            wins = self.windows(group["site_id"])
            if all(_inside(sp, avail) and _inside(sp, wins) for sp in spans):
                return True
        return False

    # ----- make-ups (rule 12) -------------------------------------------------------------------

    def makeups(self, scheduled: list[Mapping[str, Any]]) -> None:
        placed = {s.get("client_id"): s for s in scheduled}
        new = [m for m in self.output.get("makeups") or [] if isinstance(m, Mapping)]
        for i, m in enumerate(new):
            self.makeup(m, placed, [*self.booked, *new[:i], *new[i + 1 :]])
        for entry in self.output.get("makeups_unavailable") or []:
            if isinstance(entry, Mapping):
                self.makeup_unavailable(entry, placed, [*self.booked, *new])

    def makeup(
        self,
        m: Mapping[str, Any],
        placed: Mapping[Any, Mapping[str, Any]],
        others: list[Mapping[str, Any]],
    ) -> None:
        """Rule 12 for one make-up, beside ``others`` (every other make-up granted)."""
        cid, gid = m.get("client_id"), m.get("group_id")
        client, own = self.clients.get(cid), placed.get(cid)
        if client is None or own is None:
            self.add("makeup", "make-up for a client who is not scheduled", cid, gid)
            return
        group = self.groups.get(gid)
        if group is None or group.get("site_id") not in self.sites:
            self.add("payload", "make-up names a group the roster does not hold", cid, gid)
            return
        day = _day(m.get("date"))
        span = None if day is None else _makeup_span(m, day)
        if day is None or span is None:
            self.add("payload", "make-up has no valid date, start or end", cid, gid)
            return
        self.makeup_payload(m, client, group, day, span)
        self.makeup_fits(m, client, own, group, day, span, others)
        self.makeup_held(m, placed, group, day, others)

    def makeup_payload(
        self,
        m: Mapping[str, Any],
        client: Mapping[str, Any],
        group: Mapping[str, Any],
        day: date,
        span: Span,
    ) -> None:
        cid, gid = m.get("client_id"), m.get("group_id")
        site = self.sites[group["site_id"]]
        stated = [m.get(k) for k in ("site_id", "delivery", "timezone", "region_id", "week")]
        roster = [
            group["site_id"],
            group.get("delivery", "in_person"),
            site.get("timezone"),
            client.get("region_id"),
            _iso_week(day),
        ]
        if stated != roster:
            self.add(
                "payload",
                "make-up's site, delivery, timezone, region or week differ from the roster",
                cid,
                gid,
            )
        if span not in _spans(group["sessions"]):
            self.add("makeup", "make-up is not a session of its group on that day", cid, gid)

    def makeup_fits(
        self,
        m: Mapping[str, Any],
        client: Mapping[str, Any],
        own: Mapping[str, Any],
        group: Mapping[str, Any],
        day: date,
        span: Span,
        others: list[Mapping[str, Any]],
    ) -> None:
        """Rules 1-3 and the dates, for the client."""
        cid, gid = m.get("client_id"), m.get("group_id")
        if gid == (own.get("group") or {}).get("group_id"):
            self.add("makeup", "make-up in the client's own group", cid, gid)
        gender = group.get("gender", "any")
        if (client["track"], client["population"], client["language"]) != (
            group["track"],
            group["population"],
            group["language"],
        ) or (gender != "any" and _GROUP_GENDER.get(client.get("gender", "")) != gender):
            self.add("makeup", "make-up group does not fit the client (rule 1)", cid, gid)
        if not self.reachable(client, group):
            self.add("makeup", "make-up group not accessible to the client (rule 2)", cid, gid)
        if not _inside(span, _spans(client.get("availability"))):
            self.add("makeup", "make-up outside the client's availability", cid, gid)
        if not _inside(span, self.windows(str(group["site_id"]))):
            self.add("makeup", "make-up outside its site's windows", cid, gid)
        if any(_overlap(span, mine) for mine in self.own_sessions(own, day, others)):
            self.add("makeup", f"make-up overlaps the client's own sessions on {day}", cid, gid)
        start, end = _schedule_dates(own)
        if not start <= day <= end or (self.floor is not None and day < self.floor):
            self.add(
                "makeup",
                f"make-up on {day}, before as_of or outside the client's programme",
                cid,
                gid,
            )

    def reachable(self, client: Mapping[str, Any], group: Mapping[str, Any]) -> bool:
        """Rule 2 for a group: in person at a preferred site, or telehealth in the region."""
        if group.get("delivery", "in_person") == "telehealth":
            site = self.sites[group["site_id"]]
            return bool(client.get("accepts_telehealth")) and (
                site["region_id"] == client["region_id"]
            )
        return group["site_id"] in (client.get("preferred_site_ids") or [])

    def own_sessions(
        self, own: Mapping[str, Any], day: date, others: list[Mapping[str, Any]]
    ) -> list[Span]:
        """The client's sessions on ``day``: their group's and individual session (cancelled
        or not: a lifted closure brings them back) and their other make-ups that date."""
        weekday = _DAYS[day.weekday()]
        blocks = [b for b in (own.get("group") or {}).get("sessions") or [] if b["day"] == weekday]
        individual = own.get("individual") or {}
        if individual.get("day") == weekday:
            blocks.append(individual)
        for other in others:
            if other.get("client_id") == own.get("client_id") and _day(other.get("date")) == day:
                blocks.append({"day": weekday, "start": other["start"], "end": other["end"]})
        return _spans(blocks)

    def makeup_held(
        self,
        m: Mapping[str, Any],
        placed: Mapping[Any, Mapping[str, Any]],
        group: Mapping[str, Any],
        day: date,
        others: list[Mapping[str, Any]],
    ) -> None:
        """The occurrence is held that date, by the make-up's facilitator, with a free seat."""
        cid, gid = m.get("client_id"), m.get("group_id")
        attending = self.attending(placed, gid, day)
        site = self.sites[group["site_id"]]
        if not attending:
            self.add("makeup", f"make-up on {day}, when no client of the group attends", cid, gid)
        if day.isoformat() in {str(d) for d in site.get("closed_dates") or ()}:
            self.add("makeup", f"make-up on {day}, when its site is closed", cid, gid)
        runner = self.runner(placed, gid, day)
        if attending and runner is None:
            self.add(
                "makeup",
                f"make-up on {day}, when its facilitator is absent and nobody covers",
                cid,
                gid,
            )
        if runner is not None and m.get("facilitator_id") != runner:
            self.add(
                "makeup",
                f"make-up names {m.get('facilitator_id')!r}, not {runner}, who runs it on {day}",
                cid,
                gid,
            )
        taken = len(attending) + sum(
            1 for o in others if o.get("group_id") == gid and _day(o.get("date")) == day
        )
        if taken >= int(group["capacity"]):
            self.add("capacity", f"make-up on {day} takes a seat of a full group", cid, gid)

    def attending(
        self, placed: Mapping[Any, Mapping[str, Any]], gid: Any, day: date
    ) -> list[Mapping[str, Any]]:
        """The group's clients whose programme covers ``day``."""
        return [
            s
            for s in placed.values()
            if (s.get("group") or {}).get("group_id") == gid
            and _schedule_dates(s)[0] <= day <= _schedule_dates(s)[1]
        ]

    def absent(self, tid: Any, day: date) -> bool:
        therapist = self.therapists.get(tid) or {}
        return any(
            str(a.get("start_date")) <= day.isoformat() <= str(a.get("end_date"))
            for a in therapist.get("absences") or []
        )

    def runner(self, placed: Mapping[Any, Mapping[str, Any]], gid: Any, day: date) -> Any:
        """Who runs the group on ``day``: the facilitator its clients name, or when absent
        the substitute recorded for that date (present, replacing them); None: nobody."""
        named = sorted(
            {
                str((s.get("group") or {}).get("facilitator_id"))
                for s in self.attending(placed, gid, day)
            }
        )
        if not named:
            return None
        if not self.absent(named[0], day):
            return named[0]
        cover = self.covers.get((gid, day.isoformat())) or {}
        sub = cover.get("facilitator_id")
        if cover.get("replaces") != named[0] or sub is None or self.absent(sub, day):
            return None
        return sub

    def makeup_unavailable(
        self,
        entry: Mapping[str, Any],
        placed: Mapping[Any, Mapping[str, Any]],
        others: list[Mapping[str, Any]],
    ) -> None:
        """The reasons of an unavailable make-up are known codes, and true."""
        cid, reasons = entry.get("client_id"), entry.get("reasons") or []
        if not reasons or set(reasons) - _REASON_CODES:
            self.add("makeup", "make-up unavailable with missing or unknown reason codes", cid)
        verdicts = [
            self.probe(candidate, placed, others) for candidate in self.candidates(entry, placed)
        ]
        if any(not findings for findings in verdicts):
            self.add("makeup", "make-up unavailable, yet an occurrence fits rule 12", cid)
            return
        seat_only = any(all(f.rule == "capacity" for f in v) for v in verdicts)
        if "groups_full" in reasons and not seat_only:
            self.add("makeup", "groups_full, yet no occurrence lacks only a seat", cid)
        if "no_group_in_availability" in reasons and seat_only:
            self.add(
                "makeup",
                "no_group_in_availability, yet an occurrence lacks only a seat",
                cid,
            )

    def candidates(
        self, entry: Mapping[str, Any], placed: Mapping[Any, Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Every occurrence of another group in the week, from today within the client's
        programme, as the make-up it would be."""
        cid = entry.get("client_id")
        own, client = placed.get(cid), self.clients.get(cid)
        if own is None or client is None:
            return []
        start, end = _schedule_dates(own)
        days = [
            d
            for d in _week_dates(entry.get("week"))
            if start <= d <= end and (self.floor is None or d >= self.floor)
        ]
        own_gid = (own.get("group") or {}).get("group_id")
        found = []
        for gid, group in self.groups.items():
            if gid == own_gid or group.get("site_id") not in self.sites:
                continue
            for day in days:
                for block in group["sessions"]:
                    if block["day"] == _DAYS[day.weekday()]:
                        found.append(self.candidate(client, group, day, block, placed))
        return found

    def candidate(
        self,
        client: Mapping[str, Any],
        group: Mapping[str, Any],
        day: date,
        block: Mapping[str, Any],
        placed: Mapping[Any, Mapping[str, Any]],
    ) -> dict[str, Any]:
        return {
            "client_id": client["client_id"],
            "region_id": client.get("region_id"),
            "week": _iso_week(day),
            "date": day.isoformat(),
            "group_id": group["group_id"],
            "site_id": group["site_id"],
            "delivery": group.get("delivery", "in_person"),
            "start": block["start"],
            "end": block["end"],
            "facilitator_id": self.runner(placed, group["group_id"], day),
            "timezone": self.sites[group["site_id"]].get("timezone"),
        }

    def probe(
        self,
        candidate: Mapping[str, Any],
        placed: Mapping[Any, Mapping[str, Any]],
        others: list[Mapping[str, Any]],
    ) -> list[Finding]:
        """What rule 12 finds against one candidate make-up (a scratch checker's findings)."""
        scratch = _Checker(
            self.snapshot, self.output, self.individual_minutes, self.horizon, existing=True
        )
        scratch.makeup(candidate, placed, others)
        return scratch.findings

    def run(self) -> list[Finding]:
        scheduled = [s for s in self.output.get("scheduled") or [] if isinstance(s, Mapping)]
        self.coverage()
        for s in scheduled:
            self.schedule(s)
        self.groups_rules(scheduled)
        self.therapist_rules(scheduled)
        self.stability(scheduled)
        self.waitlist()
        self.makeups(scheduled)
        return self.findings


def validate_output(
    snapshot: Mapping[str, Any],
    output: Mapping[str, Any],
    individual_minutes: int = 60,
    admission_horizon_days: int = 28,
) -> list[Finding]:
    """Every broken hard rule of ``output`` as a schedule for ``snapshot`` (empty when valid).
    ``individual_minutes`` is the network's individual-session length (60 by default) and
    ``admission_horizon_days`` its admission horizon (28 by default)."""
    return _Checker(snapshot, output, individual_minutes, admission_horizon_days).run()
