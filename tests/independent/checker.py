"""Clean-room checker for IOP schedules.

Written only from ``shared/SCHEDULING.md`` and ``shared/CONTRACT.md`` (plus the snapshot/output
shape of issue 3), without reading the project's solver or its ``validate``. Its purpose is to be
a second, independent interpretation of the hard rules: wherever the text can be read two ways,
this module takes the STRICTER reading (an external checker might) and says so in a comment
starting with ``READING:``.

Pure standard library, no project imports: the inputs are plain dicts (parsed JSON).

Entry points:
- ``check(snapshot, output) -> list[str]``: one human-readable finding per broken rule.
- ``check_findings(snapshot, output) -> list[Finding]``: the same, structured (rule tag, clients
  involved), which the stability rule and the cross-check script use.

Finding tags: ``rule 1`` .. ``rule 10`` are SCHEDULING.md's hard rules; ``coverage`` (every
enrollment exactly once), ``individual`` (60-minute individual session), ``waitlist`` (reason
codes and their truth), ``payload`` (the emitted payload agrees with the roster, e.g. sessions,
site, timezone, region). A tag ending in ``(strict)`` marks a check that exists only because of a
strict reading of ambiguous text, so that such findings can be triaged separately.

Global READINGS (apply to every rule below):
- Times are minutes since midnight of one local day; ``"24:00"`` is accepted as 1440. A session
  whose end is not after its start is itself a finding (nothing in the contract crosses midnight).
- Intervals are half-open: ``[18:00, 21:00)`` and ``[21:00, 22:00)`` do not overlap. "Never
  overlap" says nothing about a gap, so touching sessions are allowed (except therapist travel,
  rule 7, which asks for 30 minutes explicitly).
- "Inside the client's/therapist's availability": READING (strict): the session lies inside ONE
  availability entry of that day. The site rule says "a window" explicitly; for availability the
  text says "the availability", which could mean the union of entries, but adjacent entries
  (17:00-19:00, 19:00-22:00) could be a break the person needs, so the stricter reading is used.
  DECISION (project lead): this single-entry reading holds everywhere, for placements and for
  the truth of ``no_group_in_availability`` alike (see ``group_fits_rules_1_to_3``).
- Dates (rules 4 and 7). SCHEDULING.md counts capacity and caseload "on every date", therapist
  hours "in every week", and lets two weekly sessions clash "only if their date ranges meet" (a
  slot that frees when one client completes can go to a client who starts after that). So a
  client holds a seat, a caseload place and their weekly sessions from ``start_date`` to
  ``end_date`` inclusive, and two clients whose programmes share no date may share a seat or a
  slot. (This checker read every placed client as concurrent, whatever their dates, while the
  rules did not mention dates; SCHEDULING.md now does, and the dated reading replaces that one.)
  READING (strict): a group's facilitator holds its sessions from the earliest start to the
  latest end of its placed clients, even across a gap when none of them attends.
  READING (strict): a week is a calendar week, Monday to Sunday, and a session counts in every
  week its date range meets, even one where its weekday falls outside the range.
  READING: dates before the snapshot's ``as_of`` (today) are not counted: they are history that
  no schedule emitted today can change (otherwise a client re-placed after a roster change, who
  keeps their old start date, would be charged with dates they spent in another group).
  READING (strict): a schedule whose dates cannot be read holds its seat and sessions on every
  date.
- The roster in the snapshot is the truth. The group payload inside ``client.scheduled`` repeats
  site, delivery and sessions; rules are checked against the roster, and any disagreement of the
  payload with the roster is a separate ``payload`` finding.
- Make-ups (rule 12, CONTRACT.md ``client.makeup_scheduled`` / ``client.makeup_unavailable``). The
  snapshot's optional ``makeups`` are granted ones, the output's optional ``makeups`` new ones,
  its optional ``makeups_unavailable`` refusals; the snapshot's optional ``substitutions`` are the
  ``facilitator.substituted`` payloads that stand. Rule 4 counts every make-up (old and new) as a
  seat of its group on its date. READINGS, each tagged ``rule 12`` (the strict ones ``rule 12
  (strict)``):
  * "one occurrence of a group": the make-up's date, start and end are one session of the
    group on that weekday; (strict) never the client's own group (its occurrences are theirs
    already);
  * (strict) the date lies in the client's programme (start_date..end_date) and not before
    as_of (a make-up makes up the programme's hours, and cannot be in the past);
  * "not overlapping their own sessions": their group's and individual sessions that weekday and
    their other make-ups that date; (strict) even an occurrence of theirs that is cancelled
    counts, since a closure can be lifted;
  * the occurrence must take place: (strict) some client of the group attends that date (a group
    with nobody in it does not meet), its site is not closed (rule 11), and its facilitator is
    present, or absent with a substitute recorded for that date who replaces them and is
    present; otherwise it is cancelled (``no_cover``);
  * "run by its facilitator": the make-up names whoever runs that occurrence;
  * a refusal is true: no occurrence of the week (from as_of, in the programme) meets every
    rule above with a free seat; ``groups_full`` needs one that fails only for want of a seat,
    ``no_group_in_availability`` needs none that does.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

CLINICAL = frozenset({"LCSW", "LPC", "LMHC", "LMFT", "PsyD", "PhD", "MD", "PMHNP"})
ADDICTION = frozenset({"LADC", "CADC", "LCADC", "CAADC", "LAC", "CSAC"})
REASON_CODES = frozenset(
    {
        "no_group_in_availability",
        "groups_full",
        "no_language_match",
        "no_credentialed_therapist",
        "therapist_capacity",
        "insufficient_weekly_hours",
        "site_not_accessible",
    }
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# SCHEDULING.md: "one weekly individual session (60 minutes by default)". A snapshot carries no
# per-network setting, so the default is the rule.
INDIVIDUAL_MINUTES = 60
# SCHEDULING.md rule 9: "the admission horizon (a network setting, default 28 days)"; as above,
# the snapshot carries no setting, so the default is the rule.
ADMISSION_HORIZON_DAYS = 28
TRAVEL_MINUTES = 30
MIN_HOURS = {"adult": 9.0, "adolescent": 6.0}
MAX_HOURS_EXCLUSIVE = 20.0
MODALITY_NEEDS_FACILITATOR = frozenset({"dbt", "trauma_informed"})
GENDER_GROUP = {"woman": "women", "man": "men"}
HOURS_TOLERANCE = 1e-6
# CONTRACT.md, site.upserted: "windows ... (default: weekday evenings 17:00-21:30 and weekends
# 08:00-18:00)". A site payload without `windows` runs sessions in those hours.
DEFAULT_WINDOWS = [{"day": d, "start": "17:00", "end": "21:30"} for d in DAYS[:5]] + [
    {"day": d, "start": "08:00", "end": "18:00"} for d in DAYS[5:]
]

Json = Mapping[str, Any]
Dates = tuple[dt.date, dt.date]  # first and last date, inclusive
EVERY_DATE: Dates = (dt.date.min, dt.date.max)


@dataclass(frozen=True)
class Finding:
    """One broken rule. ``clients`` are the clients whose schedule takes part in the breach."""

    rule: str
    message: str
    clients: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class Slot:
    """One weekly session as someone attends or holds it."""

    day: str
    start: int
    end: int
    site_id: str | None
    delivery: str
    label: str
    clients: frozenset[str]
    dates: Dates = EVERY_DATE

    def text(self) -> str:
        return f"{self.label} {self.day} {fmt(self.start)}-{fmt(self.end)}"


def parse_time(value: Any) -> int | None:
    """``"HH:MM"`` to minutes since midnight; None when malformed (the caller reports it)."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return None
    try:
        hours, minutes = int(value[:2]), int(value[3:])
    except ValueError:
        return None
    if not (0 <= minutes < 60) or not (0 <= hours <= 24) or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def intervals(entries: Any) -> dict[str, list[tuple[int, int]]]:
    """Availability or windows as ``day -> [(start, end)]``; malformed entries are dropped, which
    can only make a session fail to fit (the strict direction)."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            continue
        start, end = parse_time(entry.get("start")), parse_time(entry.get("end"))
        if entry.get("day") in DAYS and start is not None and end is not None and start < end:
            out[entry["day"]].append((start, end))
    return out


def site_windows(site: Json) -> dict[str, list[tuple[int, int]]]:
    windows = site.get("windows")
    return intervals(DEFAULT_WINDOWS if windows is None else windows)


def group_gender(group: Json) -> str:
    # The contract's executable form (contracts/ GroupUpserted) defaults `gender` to `any`.
    return str(group.get("gender") or "any")


def inside(day: str, start: int, end: int, allowed: Mapping[str, list[tuple[int, int]]]) -> bool:
    # READING (strict): inside one entry, not the union of adjacent entries (see module doc).
    return any(lo <= start and end <= hi for lo, hi in allowed.get(day, []))


def overlaps(a: Slot, b: Slot) -> bool:
    return a.day == b.day and a.start < b.end and b.start < a.end


def dates_meet(a: Dates, b: Dates) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def busiest_date(ranges: Iterable[tuple[Dates, float]]) -> tuple[float, dt.date | None]:
    """The most load on one date (each range loads every date from its first to its last), and
    the first date that carries it. Load only rises on a first date, so those are enough."""
    loads = list(ranges)
    best, when = 0.0, None
    for day in sorted({r[0] for r, _ in loads}):
        total = sum(n for r, n in loads if r[0] <= day <= r[1])
        if total > best + HOURS_TOLERANCE:
            best, when = total, day
    return best, when


def over_on_some_date(
    ranges: list[tuple[Dates, str]], limit: int
) -> tuple[float, dt.date | None, frozenset[str]]:
    """The busiest date's count and first date, and every client present on some date where
    more than ``limit`` are (empty when no date is over)."""
    count, day = busiest_date((r, 1.0) for r, _ in ranges)
    involved: set[str] = set()
    for first, _ in ranges:
        present = [cid for r, cid in ranges if r[0] <= first[0] <= r[1]]
        if len(present) > limit:
            involved |= set(present)
    return count, day, frozenset(involved)


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def busiest_week(ranges: Iterable[tuple[Dates, float]]) -> tuple[float, dt.date | None]:
    """``busiest_date`` counted in calendar weeks (the Monday of the first busiest week)."""
    return busiest_date(((monday(a), monday(b)), n) for (a, b), n in ranges)


class _Checker:
    def __init__(self, snapshot: Json, output: Json, *, for_stability: bool = False) -> None:
        # for_stability: checking the snapshot's own existing schedules to learn which are still
        # valid; coverage, waitlist and stability itself make no sense there.
        self.for_stability = for_stability
        self.findings: list[Finding] = []
        self.sites: dict[str, Json] = {
            s["site_id"]: s for s in _items(snapshot, "sites", "site_id")
        }
        self.groups: dict[str, Json] = {
            g["group_id"]: g for g in _items(snapshot, "groups", "group_id")
        }
        self.therapists: dict[str, Json] = {
            t["therapist_id"]: t for t in _items(snapshot, "therapists", "therapist_id")
        }
        self.enrollments: dict[str, Json] = {
            e["client_id"]: e for e in _items(snapshot, "enrollments", "client_id")
        }
        self.existing: dict[str, Json] = {
            s["client_id"]: s for s in _items(snapshot, "schedules", "client_id")
        }
        self.as_of = parse_date(snapshot.get("as_of"))
        self.snapshot = snapshot
        self.output = output
        self.scheduled: list[Json] = [
            s for s in output.get("scheduled") or [] if isinstance(s, Mapping)
        ]
        self.waitlisted: list[Json] = [
            w for w in output.get("waitlisted") or [] if isinstance(w, Mapping)
        ]
        self.granted: list[Json] = [
            m for m in snapshot.get("makeups") or [] if isinstance(m, Mapping)
        ]
        self.new_makeups: list[Json] = [
            m for m in output.get("makeups") or [] if isinstance(m, Mapping)
        ]
        self.refusals: list[Json] = [
            m for m in output.get("makeups_unavailable") or [] if isinstance(m, Mapping)
        ]
        self.substitutions: list[Json] = [
            c for c in snapshot.get("substitutions") or [] if isinstance(c, Mapping)
        ]
        self.group_slots: dict[str, list[Slot]] = {}
        self.group_minutes: dict[str, int] = {}
        for gid, group in self.groups.items():
            self.group_slots[gid] = self._group_slots(gid, group, frozenset())
            self.group_minutes[gid] = sum(s.end - s.start for s in self.group_slots[gid])

    # ------------------------------------------------------------------ helpers
    def add(self, rule: str, message: str, clients: Iterable[str] = ()) -> None:
        self.findings.append(Finding(rule, message, frozenset(clients)))

    def dates_from_today(self, dates: Dates) -> Dates | None:
        """The part of ``dates`` on or after as_of (see the module's READING on dates)."""
        if self.as_of is None or dates[0] >= self.as_of:
            return dates
        return None if dates[1] < self.as_of else (self.as_of, dates[1])

    def programme(self, cid: str) -> Dates | None:
        """A placed client's dates from today on (unreadable dates: every date)."""
        sched = self.placed[cid]
        start, end = parse_date(sched.get("start_date")), parse_date(sched.get("end_date"))
        return self.dates_from_today(EVERY_DATE if start is None or end is None else (start, end))

    def _group_slots(self, gid: str, group: Json, clients: frozenset[str]) -> list[Slot]:
        slots = []
        for entry in group.get("sessions") or []:
            start, end = parse_time(entry.get("start")), parse_time(entry.get("end"))
            if entry.get("day") not in DAYS or start is None or end is None or start >= end:
                continue
            slots.append(
                Slot(
                    entry["day"],
                    start,
                    end,
                    group.get("site_id"),
                    group.get("delivery", ""),
                    f"group {gid}",
                    clients,
                )
            )
        return slots

    def individual_slot(self, cid: str, sched: Json) -> Slot | None:
        ind = sched.get("individual")
        if not isinstance(ind, Mapping):
            return None
        start, end = parse_time(ind.get("start")), parse_time(ind.get("end"))
        if ind.get("day") not in DAYS or start is None or end is None or start >= end:
            return None
        return Slot(
            ind["day"],
            start,
            end,
            ind.get("site_id"),
            ind.get("delivery", ""),
            f"individual session of {cid} with {ind.get('therapist_id')}",
            frozenset({cid}),
        )

    # ------------------------------------------------------------------ run
    def run(self) -> list[Finding]:
        placed: dict[str, Json] = {}
        if not self.for_stability:
            self.check_coverage()
        for sched in self.scheduled:
            cid = sched.get("client_id")
            if cid in self.enrollments and cid not in placed:
                placed[cid] = sched
        # Unique valid placements only; duplicates and unknown clients are coverage findings.
        self.placed = placed
        for cid, sched in placed.items():
            self.check_client(cid, self.enrollments[cid], sched)
        self.check_groups()
        self.check_therapists()
        if not self.for_stability:
            self.check_contact_leak()
            self.check_waitlist()
            self.check_stability()
            self.check_rescheduled()
            self.check_makeups()
        return self.findings

    # ------------------------------------------------------------------ coverage
    def check_coverage(self) -> None:
        """Every enrollment appears exactly once in scheduled + waitlisted; no unknown clients."""
        seen: dict[str, list[str]] = defaultdict(list)
        for kind, entries in (("scheduled", self.scheduled), ("waitlisted", self.waitlisted)):
            for entry in entries:
                cid = entry.get("client_id")
                if not isinstance(cid, str):
                    self.add("coverage", f"a {kind} entry has no client_id")
                    continue
                seen[cid].append(kind)
        for cid, kinds in seen.items():
            if cid not in self.enrollments:
                self.add(
                    "coverage", f"client {cid} is {'/'.join(kinds)} but has no enrollment", [cid]
                )
            elif len(kinds) > 1:
                self.add(
                    "coverage",
                    f"client {cid} appears {len(kinds)} times ({', '.join(kinds)})",
                    [cid],
                )
        for cid in self.enrollments:
            if cid not in seen:
                self.add("coverage", f"client {cid} is neither scheduled nor waitlisted", [cid])

    # ------------------------------------------------------------------ per client
    def check_client(self, cid: str, enr: Json, sched: Json) -> None:
        gpay = sched.get("group") if isinstance(sched.get("group"), Mapping) else {}
        gid = gpay.get("group_id")
        group = self.groups.get(gid) if isinstance(gid, str) else None
        ind = sched.get("individual") if isinstance(sched.get("individual"), Mapping) else {}
        tid = ind.get("therapist_id")
        therapist = self.therapists.get(tid) if isinstance(tid, str) else None
        fid = gpay.get("facilitator_id")
        facilitator = self.therapists.get(fid) if isinstance(fid, str) else None

        if sched.get("region_id") != enr.get("region_id"):
            self.add(
                "payload",
                f"client {cid}: region_id {sched.get('region_id')!r} differs "
                f"from the enrollment's {enr.get('region_id')!r}",
                [cid],
            )
        if group is None:
            self.add("rule 1", f"client {cid}: group {gid!r} is not in the roster", [cid])
        else:
            self.check_group_payload(cid, gid, group, gpay, sched)
            self.check_fit(cid, enr, gid, group)
            self.check_group_access(cid, enr, gid, group)
        if therapist is None:
            self.add(
                "rule 6", f"client {cid}: individual therapist {tid!r} is not in the roster", [cid]
            )
        if fid is not None and facilitator is None:
            self.add(
                "rule 8",
                f"client {cid}: facilitator {fid!r} of group {gid} is not in the roster",
                [cid],
            )

        islot = self.individual_slot(cid, sched)
        self.check_individual(cid, enr, ind, islot)
        gslots = self.group_slots.get(gid, []) if group is not None else []
        self.check_time(cid, enr, gid, group, gslots, islot)
        self.check_hours(cid, enr, sched, group, gid, islot)
        self.check_credentials(cid, enr, group, gid, facilitator, fid, therapist, tid)
        if therapist is not None and islot is not None:
            self.check_therapist_slot(therapist, tid, islot, "individual", cid)
        self.check_dates(cid, enr, sched, group, gid, gslots)

    def check_group_payload(self, cid: str, gid: str, group: Json, gpay: Json, sched: Json) -> None:
        """The emitted group block repeats roster facts; they must agree with the roster."""
        for key in ("site_id", "delivery"):
            if gpay.get(key) != group.get(key):
                self.add(
                    "payload",
                    f"client {cid}: group {gid} {key} is {gpay.get(key)!r} in "
                    f"the schedule but {group.get(key)!r} in the roster",
                    [cid],
                )
        emitted = sorted(_session_keys(gpay.get("sessions")))
        roster = sorted(_session_keys(group.get("sessions")))
        if emitted != roster:
            self.add(
                "payload",
                f"client {cid}: group {gid} sessions in the schedule "
                f"{emitted} differ from the roster {roster}",
                [cid],
            )
        site = self.sites.get(group.get("site_id"))
        # READING (strict): `timezone` is the site's time zone (all sites of a region share one).
        if site is not None and sched.get("timezone") != site.get("timezone"):
            self.add(
                "payload",
                f"client {cid}: timezone {sched.get('timezone')!r} is not the "
                f"site's {site.get('timezone')!r}",
                [cid],
            )
        version = sched.get("schedule_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.add(
                "payload",
                f"client {cid}: schedule_version {version!r} is not a positive integer",
                [cid],
            )

    def check_fit(self, cid: str, enr: Json, gid: str, group: Json) -> None:
        """Rule 1: same track, population, language; gender any or matching."""
        for key in ("track", "population", "language"):
            if group.get(key) != enr.get(key):
                self.add(
                    "rule 1",
                    f"client {cid}: group {gid} {key} {group.get(key)!r} != "
                    f"client's {enr.get(key)!r}",
                    [cid],
                )
        gender = group_gender(group)
        # READING: a nonbinary or undisclosed client fits only an `any` group ("a women/men group
        # admits only a client of that gender").
        if gender != "any" and GENDER_GROUP.get(enr.get("gender", "")) != gender:
            self.add(
                "rule 1", f"client {cid} ({enr.get('gender')}) is in {gender!r} group {gid}", [cid]
            )

    def check_group_access(self, cid: str, enr: Json, gid: str, group: Json) -> None:
        """Rule 2 for the group."""
        delivery = group.get("delivery")
        site = self.sites.get(group.get("site_id"))
        if delivery == "in_person":
            if group.get("site_id") not in (enr.get("preferred_site_ids") or []):
                self.add(
                    "rule 2",
                    f"client {cid}: in-person group {gid} at site "
                    f"{group.get('site_id')} is not among the client's preferred sites",
                    [cid],
                )
        elif delivery == "telehealth":
            if enr.get("accepts_telehealth") is not True:
                self.add(
                    "rule 2",
                    f"client {cid} does not accept telehealth but is in telehealth group {gid}",
                    [cid],
                )
            if site is None or site.get("region_id") != enr.get("region_id"):
                self.add(
                    "rule 2",
                    f"client {cid}: telehealth group {gid}'s site "
                    f"{group.get('site_id')} is not in the client's region "
                    f"{enr.get('region_id')}",
                    [cid],
                )
        else:
            self.add(
                "rule 2", f"client {cid}: group {gid} has unknown delivery {delivery!r}", [cid]
            )
        if site is None:
            self.add(
                "rule 3",
                f"client {cid}: group {gid}'s site {group.get('site_id')!r} is not in the roster",
                [cid],
            )

    def check_individual(self, cid: str, enr: Json, ind: Json, islot: Slot | None) -> None:
        """Individual session shape (60 min) and, READING (strict), rule 2 for it too.

        Rule 2's text names only groups, but "Access" is about the client being able to reach
        the session: an in-person individual session at a site the client did not list, or a
        telehealth one for a client who refuses telehealth, breaks the same intent. Strict
        reading: apply rule 2 to the individual session as well (tagged ``rule 2 (strict)``).
        """
        if islot is None:
            self.add(
                "individual",
                f"client {cid}: individual session {dict(ind)!r} is malformed (day, start, end)",
                [cid],
            )
            return
        if islot.end - islot.start != INDIVIDUAL_MINUTES:
            self.add(
                "individual",
                f"client {cid}: individual session lasts "
                f"{islot.end - islot.start} minutes, not {INDIVIDUAL_MINUTES}",
                [cid],
            )
        site = self.sites.get(islot.site_id) if isinstance(islot.site_id, str) else None
        if site is None:
            # READING (strict): every session, telehealth included, is "held" by a site whose
            # windows it must fit (rule 3); without a site that cannot be shown.
            self.add(
                "rule 3",
                f"client {cid}: individual session names no known site ({islot.site_id!r})",
                [cid],
            )
        if islot.delivery == "in_person":
            if islot.site_id not in (enr.get("preferred_site_ids") or []):
                self.add(
                    "rule 2 (strict)",
                    f"client {cid}: in-person individual session at "
                    f"site {islot.site_id} which is not among the client's preferred sites",
                    [cid],
                )
        elif islot.delivery == "telehealth":
            if enr.get("accepts_telehealth") is not True:
                self.add(
                    "rule 2 (strict)",
                    f"client {cid} does not accept telehealth but has a "
                    "telehealth individual session",
                    [cid],
                )
            if site is not None and site.get("region_id") != enr.get("region_id"):
                self.add(
                    "rule 2 (strict)",
                    f"client {cid}: telehealth individual session's "
                    f"site {islot.site_id} is outside region {enr.get('region_id')}",
                    [cid],
                )
        else:
            self.add(
                "individual",
                f"client {cid}: individual session delivery "
                f"{islot.delivery!r} is neither in_person nor telehealth",
                [cid],
            )

    def check_time(
        self,
        cid: str,
        enr: Json,
        gid: Any,
        group: Json | None,
        gslots: list[Slot],
        islot: Slot | None,
    ) -> None:
        """Rule 3: client availability, site windows, no client overlap."""
        avail = intervals(enr.get("availability"))
        if group is not None:
            raw = group.get("sessions") or []
            if len(gslots) != len(raw) or not raw:
                self.add(
                    "rule 3",
                    f"client {cid}: group {gid} has malformed or no sessions {raw!r}",
                    [cid],
                )
        slots = [*gslots, *([islot] if islot is not None else [])]
        for slot in slots:
            if not inside(slot.day, slot.start, slot.end, avail):
                self.add(
                    "rule 3",
                    f"client {cid}: {slot.text()} is outside the client's availability",
                    [cid],
                )
            site = self.sites.get(slot.site_id) if isinstance(slot.site_id, str) else None
            if site is not None and not inside(slot.day, slot.start, slot.end, site_windows(site)):
                self.add(
                    "rule 3",
                    f"client {cid}: {slot.text()} is outside every window of site {slot.site_id}",
                    [cid],
                )
        for i, a in enumerate(slots):
            for b in slots[i + 1 :]:
                if overlaps(a, b):
                    self.add("rule 3", f"client {cid}: {a.text()} overlaps {b.text()}", [cid])

    def check_hours(
        self, cid: str, enr: Json, sched: Json, group: Json | None, gid: Any, islot: Slot | None
    ) -> None:
        """Rule 5: group + individual hours >= 9 adult / >= 6 adolescent, < 20; payload agrees."""
        if group is None or islot is None:
            return
        hours = (self.group_minutes[gid] + islot.end - islot.start) / 60
        population = enr.get("population")
        minimum = MIN_HOURS.get(population)
        if minimum is None:
            self.add("rule 5", f"client {cid}: unknown population {population!r}", [cid])
        elif hours < minimum - HOURS_TOLERANCE:
            self.add(
                "rule 5",
                f"client {cid} ({population}): {hours:g} weekly hours < {minimum:g}",
                [cid],
            )
        if hours >= MAX_HOURS_EXCLUSIVE - HOURS_TOLERANCE:
            self.add("rule 5", f"client {cid}: {hours:g} weekly hours is not under 20", [cid])
        stated = sched.get("weekly_hours")
        if not isinstance(stated, int | float) or abs(float(stated) - hours) > HOURS_TOLERANCE:
            self.add(
                "rule 5",
                f"client {cid}: payload weekly_hours {stated!r} but group "
                f"{gid} + individual session make {hours:g}",
                [cid],
            )

    def check_credentials(
        self,
        cid: str,
        enr: Json,
        group: Json | None,
        gid: Any,
        facilitator: Json | None,
        fid: Any,
        therapist: Json | None,
        tid: Any,
    ) -> None:
        """Rule 6, for this client's facilitator and individual therapist.

        READING (strict): credential names match exactly as listed in SCHEDULING.md (case
        included); the track is the client's (rule 1 makes it the group's as well).
        """
        track = enr.get("track")
        if facilitator is not None:
            creds = set(facilitator.get("credentials") or [])
            clinical, addiction = bool(creds & CLINICAL), bool(creds & ADDICTION)
            need = {
                "mental_health": clinical,
                "substance_use": addiction,
                "dual_diagnosis": clinical and addiction,
            }.get(track, False)
            if not need:
                self.add(
                    "rule 6",
                    f"client {cid}: facilitator {fid} of group {gid} lacks the "
                    f"credentials for {track} ({sorted(creds)})",
                    [cid],
                )
            modality = group.get("modality") if group is not None else None
            if modality in MODALITY_NEEDS_FACILITATOR and modality not in (
                facilitator.get("modalities") or []
            ):
                self.add(
                    "rule 6",
                    f"client {cid}: facilitator {fid} of {modality} group {gid} "
                    f"does not list {modality}",
                    [cid],
                )
            self.check_serves(cid, enr, facilitator, f"facilitator {fid} of group {gid}")
        elif fid is None and group is not None:
            self.add("rule 8", f"client {cid}: group {gid} has no facilitator", [cid])
        if therapist is not None:
            creds = set(therapist.get("credentials") or [])
            clinical, addiction = bool(creds & CLINICAL), bool(creds & ADDICTION)
            need = {
                "mental_health": clinical,
                "substance_use": clinical or addiction,
                "dual_diagnosis": clinical,
            }.get(track, False)
            if not need:
                self.add(
                    "rule 6",
                    f"client {cid}: individual therapist {tid} lacks the "
                    f"credentials for {track} ({sorted(creds)})",
                    [cid],
                )
            self.check_serves(cid, enr, therapist, f"individual therapist {tid}")

    def check_serves(self, cid: str, enr: Json, therapist: Json, who: str) -> None:
        if enr.get("population") not in (therapist.get("populations") or []):
            self.add("rule 6", f"client {cid}: {who} does not serve {enr.get('population')}", [cid])
        if enr.get("language") not in (therapist.get("languages") or []):
            self.add("rule 6", f"client {cid}: {who} does not speak {enr.get('language')}", [cid])

    def check_therapist_slot(
        self, therapist: Json, tid: str, slot: Slot, role: str, cid: str | None
    ) -> None:
        """Rule 7 for one session: availability, site_ids / telehealth."""
        clients = slot.clients
        if not inside(slot.day, slot.start, slot.end, intervals(therapist.get("availability"))):
            self.add(
                "rule 7",
                f"therapist {tid}: {slot.text()} ({role}) is outside their availability",
                clients,
            )
        if slot.delivery == "telehealth":
            if therapist.get("telehealth") is not True:
                self.add(
                    "rule 7",
                    f"therapist {tid}: {slot.text()} ({role}) is telehealth but "
                    "they do not do telehealth",
                    clients,
                )
        elif slot.site_id not in (therapist.get("site_ids") or []):
            self.add(
                "rule 7",
                f"therapist {tid}: in-person {slot.text()} ({role}) at site "
                f"{slot.site_id} which is not in their site_ids",
                clients,
            )

    def check_dates(
        self, cid: str, enr: Json, sched: Json, group: Json | None, gid: Any, gslots: list[Slot]
    ) -> None:
        """Rule 9."""
        start, end = parse_date(sched.get("start_date")), parse_date(sched.get("end_date"))
        if start is None or end is None:
            self.add(
                "rule 9",
                f"client {cid}: start_date/end_date {sched.get('start_date')!r}/"
                f"{sched.get('end_date')!r} are not ISO dates",
                [cid],
            )
            return
        requested = parse_date(enr.get("requested_start"))
        if requested is None or start < requested:
            self.add(
                "rule 9",
                f"client {cid}: start {start} is before requested_start "
                f"{enr.get('requested_start')}",
                [cid],
            )
        if group is not None:
            open_from = parse_date(group.get("open_from"))
            # READING (strict): a missing open_from is not "open since forever"; only a null in
            # the roster (which the contract does not allow) would be, so flag unparseable ones.
            if group.get("open_from") is not None and (open_from is None or start < open_from):
                self.add(
                    "rule 9",
                    f"client {cid}: start {start} is before group {gid}'s "
                    f"open_from {group.get('open_from')}",
                    [cid],
                )
            meets = {s.day for s in gslots}
            if DAYS[start.weekday()] not in meets:
                self.add(
                    "rule 9",
                    f"client {cid}: start {start} is a {DAYS[start.weekday()]}, "
                    f"group {gid} meets {sorted(meets)}",
                    [cid],
                )
        weeks = enr.get("program_weeks")
        if isinstance(weeks, int) and not isinstance(weeks, bool):
            expected = start + dt.timedelta(weeks=weeks) - dt.timedelta(days=1)
            if end != expected:
                self.add(
                    "rule 9",
                    f"client {cid}: end {end} but start {start} + {weeks} weeks "
                    f"- 1 day is {expected}",
                    [cid],
                )
        else:
            self.add("rule 9", f"client {cid}: program_weeks {weeks!r} is not an integer", [cid])
        # READING (strict): a NEW schedule cannot start before the snapshot's as_of date (a
        # client cannot join a session in the past). Rule 9 does not say it; tagged strict.
        # Existing schedules keep their old start, so they are exempt.
        if (
            not self.for_stability
            and self.as_of is not None
            and cid not in self.existing
            and start < self.as_of
        ):
            self.add(
                "rule 9 (strict)",
                f"client {cid}: new schedule starts {start}, before as_of {self.as_of}",
                [cid],
            )
        self.check_horizon(cid, enr, sched, group, start)

    def check_horizon(
        self, cid: str, enr: Json, sched: Json, group: Json | None, start: dt.date
    ) -> None:
        """Rule 9: "at most the admission horizon ... after the earliest of those dates" (the
        latest of requested_start, the group's open_from and today, i.e. the earliest date the
        client may start). READING: it binds schedules made in this output, new or changed; an
        existing schedule passed through unchanged was made on an earlier day, against that
        day's today, which the snapshot does not record."""
        old = self.existing.get(cid)
        if self.for_stability or (old is not None and _stable_key(old) == _stable_key(sched)):
            return
        floors = [parse_date(enr.get("requested_start")), self.as_of]
        if group is not None:
            floors.append(parse_date(group.get("open_from")))
        earliest = max((d for d in floors if d is not None), default=None)
        if earliest is None:
            return  # an unreadable requested_start is reported above
        latest = earliest + dt.timedelta(days=ADMISSION_HORIZON_DAYS)
        if start > latest:
            self.add(
                "rule 9",
                f"client {cid}: start {start} is more than the admission horizon "
                f"({ADMISSION_HORIZON_DAYS} days) after {earliest}, the earliest it may be",
                [cid],
            )
        # Rule 9: the start falls "on a day the group meets and is not cancelled"; rule 11: no
        # session at a site on its closed_dates. READING: a schedule made in this output may not
        # start on a closed day of the group's site, nor on a meeting of its group that an
        # existing schedule of the snapshot already lists cancelled for want of a substitute
        # (reason no_cover). A no_cover decided only after this placement is not judged here.
        site = self.sites.get(group.get("site_id")) if group is not None else None
        closed = {parse_date(d) for d in (site or {}).get("closed_dates") or ()}
        if start in closed:
            self.add(
                "rule 9",
                f"client {cid}: start {start} is a day the group's site is closed",
                [cid],
            )
        if group is not None and start in self.meetings_without_cover(group.get("group_id")):
            self.add(
                "rule 9",
                f"client {cid}: start {start} is a meeting of the group cancelled for want of "
                "cover (no_cover in an existing schedule)",
                [cid],
            )

    def meetings_without_cover(self, group_id: Any) -> set[dt.date]:
        """Dates of the group's meetings that the snapshot's schedules list cancelled with
        reason no_cover."""
        found: set[dt.date] = set()
        for old in self.existing.values():
            if not isinstance(old.get("group"), dict) or old["group"].get("group_id") != group_id:
                continue
            for entry in old.get("cancelled") or []:
                if not isinstance(entry, dict):
                    continue
                if entry.get("kind") == "group" and entry.get("reason") == "no_cover":
                    day = parse_date(entry.get("date"))
                    if day is not None:
                        found.add(day)
        return found

    # ------------------------------------------------------------------ per group
    def check_groups(self) -> None:
        """Rules 4 and 8, and the therapist-side rule 7 checks of facilitated group sessions."""
        members: dict[str, list[str]] = defaultdict(list)
        facilitators: dict[str, set[Any]] = defaultdict(set)
        for cid, sched in self.placed.items():
            gpay = sched.get("group") if isinstance(sched.get("group"), Mapping) else {}
            gid = gpay.get("group_id")
            if gid in self.groups:
                members[gid].append(cid)
                facilitators[gid].add(gpay.get("facilitator_id"))
        self.members = members
        # therapist id -> running groups they facilitate (each group once)
        self.facilitating: dict[str, set[str]] = defaultdict(set)
        makeup_seats = self.makeup_seats()
        for gid in [*members, *(g for g in makeup_seats if g not in members)]:
            cids = members.get(gid, [])
            group = self.groups[gid]
            capacity = group.get("capacity")
            seats = [(d, cid) for cid in cids if (d := self.programme(cid)) is not None]
            seats += makeup_seats.get(gid, [])
            if not isinstance(capacity, int):
                self.add("rule 4", f"group {gid}: capacity {capacity!r} is not an integer", cids)
                continue
            count, day, involved = over_on_some_date(seats, capacity)
            if involved:
                self.add(
                    "rule 4",
                    f"group {gid} holds {count:g} clients on {day}, capacity {capacity}",
                    involved,
                )
            if not cids:
                continue
            named = facilitators[gid]
            if len(named) != 1:
                self.add(
                    "rule 8",
                    f"group {gid} has {len(named)} facilitators across its "
                    f"clients: {sorted(map(str, named))}",
                    cids,
                )
            fixed = group.get("facilitator_id")
            if fixed is not None and named != {fixed}:
                self.add(
                    "rule 8",
                    f"group {gid}: roster fixes facilitator {fixed} but schedules "
                    f"name {sorted(map(str, named))}",
                    cids,
                )
            for fid in named:
                if isinstance(fid, str) and fid in self.therapists:
                    # READING (strict): if clients disagree on the facilitator, every named one
                    # is charged with the group's sessions.
                    self.facilitating[fid].add(gid)

    # ------------------------------------------------------------------ per therapist
    def check_therapists(self) -> None:
        """Rule 7: availability/sites per session, overlaps, travel, caseload, weekly hours.

        READING: only RUNNING groups (at least one scheduled client) are facilitated; an empty
        group with a fixed facilitator_id holds no sessions, so it costs its facilitator nothing.
        A therapist's sessions are the sessions of each running group they facilitate (once per
        group, however many clients) plus one individual session per individual client, each
        over its dates (module READING on dates).
        """
        individual: dict[str, list[Slot]] = defaultdict(list)
        for cid, sched in self.placed.items():
            ind = sched.get("individual") if isinstance(sched.get("individual"), Mapping) else {}
            tid = ind.get("therapist_id")
            slot = self.individual_slot(cid, sched)
            dates = self.programme(cid)
            if isinstance(tid, str) and tid in self.therapists and slot is not None and dates:
                individual[tid].append(replace(slot, dates=dates))
        for tid in sorted(set(individual) | set(self.facilitating)):
            therapist = self.therapists[tid]
            slots: list[Slot] = []
            for gid in sorted(self.facilitating.get(tid, ())):
                members = frozenset(self.members[gid])
                gslots = self._group_slots(gid, self.groups[gid], members)
                for slot in gslots:
                    self.check_therapist_slot(therapist, tid, slot, "facilitating", None)
                running = self.group_dates(gid)
                if running is not None:
                    slots.extend(replace(slot, dates=running) for slot in gslots)
            slots.extend(individual.get(tid, []))
            self.check_apart(tid, slots)
            self.check_load(tid, therapist, slots, individual.get(tid, []))

    def group_dates(self, gid: str) -> Dates | None:
        """READING (strict): the group runs from its clients' earliest date to their latest
        (from today on); None when none of them has a date left."""
        ranges = [d for cid in self.members[gid] if (d := self.programme(cid)) is not None]
        if not ranges:
            return None
        return min(d[0] for d in ranges), max(d[1] for d in ranges)

    def check_apart(self, tid: str, slots: list[Slot]) -> None:
        """No two sessions whose date ranges meet overlap, or leave too little time to travel."""
        # Pairwise, not just consecutive: the stricter, order-independent form.
        for i, a in enumerate(slots):
            for b in slots[i + 1 :]:
                if a.day != b.day or not dates_meet(a.dates, b.dates):
                    continue
                if overlaps(a, b):
                    self.add(
                        "rule 7",
                        f"therapist {tid}: {a.text()} overlaps {b.text()}",
                        a.clients | b.clients,
                    )
                elif (
                    a.delivery == "in_person"
                    and b.delivery == "in_person"
                    and (a.site_id != b.site_id)
                ):
                    gap = max(a.start, b.start) - min(a.end, b.end)
                    if gap < TRAVEL_MINUTES:
                        self.add(
                            "rule 7",
                            f"therapist {tid}: only {gap} minutes to travel "
                            f"between {a.text()} at {a.site_id} and {b.text()} at "
                            f"{b.site_id}",
                            a.clients | b.clients,
                        )

    def check_load(
        self, tid: str, therapist: Json, slots: list[Slot], individual: list[Slot]
    ) -> None:
        """Caseload on every date, hours in every week (module READING on dates)."""
        limit = therapist.get("max_caseload")
        seen = [(s.dates, next(iter(s.clients))) for s in individual]
        count, day, involved = over_on_some_date(seen, limit if isinstance(limit, int) else -1)
        if involved:
            self.add(
                "rule 7",
                f"therapist {tid}: {count:g} individual clients on {day} > max_caseload {limit!r}",
                involved,
            )
        max_hours = therapist.get("max_weekly_hours")
        loads = [(s.dates, (s.end - s.start) / 60) for s in slots]
        hours, week = busiest_week(loads)
        if not isinstance(max_hours, int | float) or hours > max_hours + HOURS_TOLERANCE:
            in_week = [s for s in slots if week is None or monday(s.dates[0]) <= week <= s.dates[1]]
            self.add(
                "rule 7",
                f"therapist {tid}: {hours:g} weekly hours in the week of {week} (groups "
                f"{sorted(self.facilitating.get(tid, ()))} + individual sessions) > "
                f"max_weekly_hours {max_hours!r}",
                frozenset().union(*(s.clients for s in in_week)),
            )

    def check_contact_leak(self) -> None:
        """CONTRACT.md: "Schedule events carry no contact details"; `contact` never leaves
        intake, scheduler and notifier. READING (strict): no contact value (of 3+ characters,
        to avoid matching stray short strings) appears anywhere in a scheduled or waitlisted
        payload, the free-text `detail` included."""
        for kind, entries in (("scheduled", self.scheduled), ("waitlisted", self.waitlisted)):
            for entry in entries:
                cid = entry.get("client_id")
                enr = self.enrollments.get(cid) if isinstance(cid, str) else None
                contact = enr.get("contact") if enr is not None else None
                if not isinstance(contact, Mapping):
                    continue
                text = repr(dict(entry))
                if any(isinstance(v, str) and len(v) >= 3 and v in text for v in contact.values()):
                    self.add(
                        "payload", f"client {cid}: {kind} payload contains contact data", [cid]
                    )

    # ------------------------------------------------------------------ waitlist
    def check_waitlist(self) -> None:
        """Reason codes from the contract's list, at least one, and no_group_in_availability true.

        READING (strict): "every reason code that applies" implies a waitlisted client has at
        least one reason. ``no_group_in_availability`` is false as soon as ONE group of the
        client's track passes rule 1 (fit), rule 2 (access) and the group-session part of rule 3
        (every session inside the client's availability and a window of the group's site). The
        individual session is not part of "a group fits rules 1-3", so it is not required to fit
        too; that makes the claim false more often, i.e. this checker stricter.
        """
        for entry in self.waitlisted:
            cid = entry.get("client_id")
            enr = self.enrollments.get(cid) if isinstance(cid, str) else None
            reasons = entry.get("reasons")
            if not isinstance(reasons, list) or not reasons:
                self.add(
                    "waitlist", f"client {cid}: waitlisted without reasons", [cid] if cid else []
                )
                continue
            unknown = [r for r in reasons if r not in REASON_CODES]
            if unknown:
                self.add("waitlist", f"client {cid}: unknown reason codes {unknown}", [cid])
            if len(set(map(str, reasons))) != len(reasons):
                self.add("waitlist", f"client {cid}: repeated reason codes {reasons}", [cid])
            if enr is None:
                continue
            if entry.get("region_id") != enr.get("region_id"):
                self.add(
                    "payload",
                    f"client {cid}: waitlist region_id {entry.get('region_id')!r}"
                    f" differs from the enrollment's {enr.get('region_id')!r}",
                    [cid],
                )
            if "no_group_in_availability" in reasons:
                fitting = [
                    gid
                    for gid, g in self.groups.items()
                    if g.get("track") == enr.get("track")
                    and self.group_fits_rules_1_to_3(enr, g, gid)
                ]
                if fitting:
                    self.add(
                        "waitlist",
                        f"client {cid}: waitlisted for no_group_in_availability "
                        f"but group(s) {fitting[:5]} fit rules 1-3",
                        [cid],
                    )

    def group_fits_rules_1_to_3(self, enr: Json, group: Json, gid: str) -> bool:
        if any(group.get(k) != enr.get(k) for k in ("track", "population", "language")):
            return False
        gender = group_gender(group)
        if gender != "any" and GENDER_GROUP.get(enr.get("gender", "")) != gender:
            return False
        site = self.sites.get(group.get("site_id"))
        if site is None:
            return False
        if group.get("delivery") == "in_person":
            if group.get("site_id") not in (enr.get("preferred_site_ids") or []):
                return False
        elif group.get("delivery") == "telehealth":
            if enr.get("accepts_telehealth") is not True or site.get("region_id") != enr.get(
                "region_id"
            ):
                return False
        else:
            return False
        slots = self.group_slots[gid]
        if not slots:
            return False
        # DECISION (project lead, after the cross-check of this checker with the project's
        # validate): the claim is tested under the SAME single-entry reading as placements. The
        # docs are ambiguous ("inside the client's availability" could mean the union of
        # touching entries), but single-entry is the conservative reading for placements and
        # the one the project applies everywhere: a group that spans two touching entries
        # (thu 17:00-19:00 + 19:00-22:00, group 18:00-21:00) may not be placed, so it does not
        # "fit rules 1-3" either, and no_group_in_availability may name it. (This checker
        # earlier used the union here, the stricter direction for this one claim.)
        avail, windows = intervals(enr.get("availability")), site_windows(site)
        return all(
            inside(s.day, s.start, s.end, avail) and inside(s.day, s.start, s.end, windows)
            for s in slots
        )

    # ------------------------------------------------------------------ stability
    def check_stability(self) -> None:
        """Rule 10: an existing schedule that is still valid comes back unchanged.

        READING: "still valid" = the snapshot's existing schedules, checked on their own against
        the CURRENT roster and enrollments by this same checker (rules 1-9, 60-minute individual
        session, payload agreement), produce no finding that involves that client. A client
        named in a shared breach (e.g. a capacity cut below the number already placed) may be
        moved, as may one whose enrollment is gone (withdrawn: nothing to keep).
        READING (strict): "keeps group, therapist and slot" covers the whole schedule: group,
        its facilitator (the client's group therapist), individual therapist, individual day,
        start, end, delivery and site, start and end dates, and also schedule_version (the
        contract raises it with every change, so an unchanged schedule keeps it). A schedule
        that did change must carry schedule_version = old + 1.
        """
        if not self.existing:
            return
        current = {cid: s for cid, s in self.existing.items() if cid in self.enrollments}
        probe = _Checker(
            self.snapshot,
            {"scheduled": list(current.values()), "waitlisted": []},
            for_stability=True,
        )
        broken: set[str] = set()
        for finding in probe.run():
            broken |= finding.clients
        out: dict[str, Json] = {}
        for sched in self.scheduled:
            cid = sched.get("client_id")
            if isinstance(cid, str):
                out.setdefault(cid, sched)
        for cid, old in current.items():
            new = out.get(cid)
            if cid in broken:
                if new is not None and _stable_key(new) != _stable_key(old):
                    self.check_version_bump(cid, old, new)
                continue
            if new is None:
                self.add(
                    "rule 10",
                    f"client {cid}: valid existing schedule was dropped (client waitlisted)",
                    [cid],
                )
                continue
            old_key, new_key = _stable_key(old), _stable_key(new)
            if old_key != new_key:
                changed = [
                    name
                    for name, a, b in zip(_STABLE_FIELDS, old_key, new_key, strict=True)
                    if a != b
                ]
                self.add(
                    "rule 10",
                    f"client {cid}: valid existing schedule changed ({', '.join(changed)})",
                    [cid],
                )
            elif dict(new) != dict(old):
                # READING (strict): a kept schedule is re-emitted byte-for-byte as the snapshot
                # had it; any other field that differs (version, weekly_hours, timezone, ...) is
                # a change a consumer would see.
                changed = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
                self.add(
                    "rule 10",
                    f"client {cid}: kept schedule re-emitted with different {', '.join(changed)}",
                    [cid],
                )

    # ------------------------------------------------------------------ rule 12: make-ups
    def makeup_seats(self) -> dict[str, list[tuple[Dates, str]]]:
        """Rule 4: every make-up, granted before or now, holds a seat of its group on its date
        (from as_of on, like every other date)."""
        seats: dict[str, list[tuple[Dates, str]]] = defaultdict(list)
        for m in [*self.granted, *self.new_makeups]:
            day, gid = parse_date(m.get("date")), m.get("group_id")
            if day is None or gid not in self.groups:
                continue
            if self.dates_from_today((day, day)) is not None:
                seats[gid].append(((day, day), f"make-up of {m.get('client_id')}"))
        return seats

    def check_makeups(self) -> None:
        for index, m in enumerate(self.new_makeups):
            others = [*self.granted, *self.new_makeups[:index], *self.new_makeups[index + 1 :]]
            for rule, message in self.makeup_faults(m, others):
                cid = m.get("client_id")
                self.add(rule, f"make-up of client {cid}: {message}", [cid] if cid else [])
        for refusal in self.refusals:
            self.check_refusal(refusal)

    def makeup_faults(self, m: Json, others: list[Json]) -> list[tuple[str, str]]:
        """What is wrong with one make-up beside ``others`` (every other make-up), seats aside
        (rule 4 counts those for the whole group)."""
        cid, gid = m.get("client_id"), m.get("group_id")
        enr = self.enrollments.get(cid) if isinstance(cid, str) else None
        own = self.placed.get(cid) if isinstance(cid, str) else None
        group = self.groups.get(gid) if isinstance(gid, str) else None
        if enr is None or own is None:
            return [("rule 12", "the client has no schedule in the output")]
        if group is None:
            return [("payload", f"group {gid!r} is not in the roster")]
        day = parse_date(m.get("date"))
        start, end = parse_time(m.get("start")), parse_time(m.get("end"))
        if day is None or start is None or end is None or start >= end:
            return [("payload", "date, start or end is malformed")]
        slot = Slot(
            DAYS[day.weekday()], start, end, group.get("site_id"), "", "make-up", frozenset()
        )
        return [
            *self.makeup_payload_faults(m, enr, group, day, slot),
            *self.makeup_client_faults(m, enr, own, group, day, slot, others),
            *self.makeup_occurrence_faults(m, group, day),
        ]

    def makeup_payload_faults(
        self, m: Json, enr: Json, group: Json, day: dt.date, slot: Slot
    ) -> list[tuple[str, str]]:
        faults = []
        site = self.sites.get(str(group.get("site_id"))) or {}
        year, week, _ = day.isocalendar()
        expected = {
            "site_id": group.get("site_id"),
            "delivery": group.get("delivery"),
            "timezone": site.get("timezone"),
            "region_id": enr.get("region_id"),
            "week": f"{year}-W{week:02d}",
        }
        for key, value in expected.items():
            if m.get(key) != value:
                faults.append(("payload", f"{key} is {m.get(key)!r}, expected {value!r}"))
        if not any(
            (s.day, s.start, s.end) == (slot.day, slot.start, slot.end)
            for s in self.group_slots[group["group_id"]]
        ):
            faults.append(
                ("rule 12", f"{slot.text()} is not a session of group {group['group_id']}")
            )
        return faults

    def makeup_client_faults(
        self,
        m: Json,
        enr: Json,
        own: Json,
        group: Json,
        day: dt.date,
        slot: Slot,
        others: list[Json],
    ) -> list[tuple[str, str]]:
        """Rules 1-3 for the client, their own group, their programme's dates."""
        faults = []
        gid = group["group_id"]
        own_gid = (own.get("group") or {}).get("group_id")
        if gid == own_gid:
            faults.append(("rule 12 (strict)", f"group {gid} is the client's own group"))
        if any(group.get(k) != enr.get(k) for k in ("track", "population", "language")):
            faults.append(
                ("rule 12", f"group {gid} is not of the client's track, population and language")
            )
        gender = group_gender(group)
        if gender != "any" and GENDER_GROUP.get(enr.get("gender", "")) != gender:
            faults.append(("rule 12", f"{gender!r} group {gid} for a client of another gender"))
        if not self.makeup_reachable(enr, group):
            faults.append(("rule 12", f"the client cannot reach group {gid}"))
        if not inside(slot.day, slot.start, slot.end, intervals(enr.get("availability"))):
            faults.append(("rule 12", f"{slot.text()} is outside the client's availability"))
        site = self.sites.get(str(group.get("site_id")))
        if site is None or not inside(slot.day, slot.start, slot.end, site_windows(site)):
            faults.append(("rule 12", f"{slot.text()} is outside the site's windows"))
        for mine in self.sessions_of_client_on(own, day, others):
            if overlaps(slot, mine):
                faults.append(
                    ("rule 12 (strict)", f"{slot.text()} overlaps {mine.text()} on {day}")
                )
        first, last = parse_date(own.get("start_date")), parse_date(own.get("end_date"))
        if first is None or last is None or not first <= day <= last:
            faults.append(("rule 12 (strict)", f"{day} lies outside the client's programme"))
        if self.as_of is not None and day < self.as_of:
            faults.append(("rule 12 (strict)", f"{day} is before as_of {self.as_of}"))
        return faults

    def makeup_reachable(self, enr: Json, group: Json) -> bool:
        """Rule 2 read for a make-up: "a site the client can reach"."""
        site = self.sites.get(str(group.get("site_id")))
        if site is None:
            return False
        if group.get("delivery") == "telehealth":
            return enr.get("accepts_telehealth") is True and site.get("region_id") == enr.get(
                "region_id"
            )
        return group.get("delivery") == "in_person" and group.get("site_id") in (
            enr.get("preferred_site_ids") or []
        )

    def sessions_of_client_on(self, own: Json, day: dt.date, others: list[Json]) -> list[Slot]:
        cid = own.get("client_id")
        weekday = DAYS[day.weekday()]
        gid = (own.get("group") or {}).get("group_id")
        mine = [s for s in self.group_slots.get(str(gid), []) if s.day == weekday]
        individual = self.individual_slot(str(cid), own)
        if individual is not None and individual.day == weekday:
            mine.append(individual)
        for other in others:
            start, end = parse_time(other.get("start")), parse_time(other.get("end"))
            if (
                other.get("client_id") == cid
                and parse_date(other.get("date")) == day
                and start is not None
                and end is not None
            ):
                mine.append(
                    Slot(
                        weekday,
                        start,
                        end,
                        other.get("site_id"),
                        "",
                        "another make-up",
                        frozenset(),
                    )
                )
        return mine

    def attendees(self, gid: str, day: dt.date) -> list[str]:
        """The group's placed clients whose programme covers ``day``."""
        out = []
        for cid in self.members.get(gid, []):
            dates = self.programme(cid)
            if dates is not None and dates[0] <= day <= dates[1]:
                out.append(cid)
        return out

    def absent_on(self, tid: Any, day: dt.date) -> bool:
        therapist = self.therapists.get(tid) if isinstance(tid, str) else None
        for absence in (therapist or {}).get("absences") or []:
            first = parse_date(absence.get("start_date"))
            last = parse_date(absence.get("end_date"))
            if first is not None and last is not None and first <= day <= last:
                return True
        return False

    def who_runs(self, gid: str, day: dt.date) -> tuple[str | None, str]:
        """Who runs the group's occurrence on ``day``, or None and why it does not take place."""
        if not self.attendees(gid, day):
            return None, "no client of the group attends that date"
        site = self.sites.get(str(self.groups[gid].get("site_id"))) or {}
        if day in {parse_date(d) for d in site.get("closed_dates") or ()}:
            return None, "the group's site is closed that date"
        named = sorted(
            str((self.placed[c].get("group") or {}).get("facilitator_id"))
            for c in self.attendees(gid, day)
        )
        regular = named[0]
        if not self.absent_on(regular, day):
            return regular, ""
        for sub in self.substitutions:
            if (
                sub.get("group_id") == gid
                and parse_date(sub.get("date")) == day
                and sub.get("replaces") == regular
                and not self.absent_on(sub.get("facilitator_id"), day)
            ):
                return str(sub.get("facilitator_id")), ""
        return None, f"facilitator {regular} is absent and nobody covers (no_cover)"

    def makeup_occurrence_faults(self, m: Json, group: Json, day: dt.date) -> list[tuple[str, str]]:
        runner, why = self.who_runs(group["group_id"], day)
        if runner is None:
            return [
                ("rule 12 (strict)", f"group {group['group_id']} does not meet on {day}: {why}")
            ]
        if m.get("facilitator_id") != runner:
            return [
                (
                    "rule 12",
                    f"names facilitator {m.get('facilitator_id')!r}, but {runner} runs it on {day}",
                )
            ]
        return []

    def seat_free(self, gid: str, day: dt.date, others: list[Json]) -> bool:
        capacity = self.groups[gid].get("capacity")
        taken = len(self.attendees(gid, day)) + sum(
            1 for o in others if o.get("group_id") == gid and parse_date(o.get("date")) == day
        )
        return isinstance(capacity, int) and taken < capacity

    def week_candidates(self, refusal: Json) -> list[tuple[Json, list[tuple[str, str]], bool]]:
        """Every occurrence the refused client could have had that week: (make-up, faults,
        seat free)."""
        cid = refusal.get("client_id")
        own = self.placed.get(cid) if isinstance(cid, str) else None
        enr = self.enrollments.get(cid) if isinstance(cid, str) else None
        week = refusal.get("week")
        try:
            year, number = str(week).split("-W")
            monday = dt.date.fromisocalendar(int(year), int(number), 1)
        except ValueError:
            return []
        if own is None or enr is None:
            return []
        own_gid = (own.get("group") or {}).get("group_id")
        others = [*self.granted, *self.new_makeups]
        found: list[tuple[Json, list[tuple[str, str]], bool]] = []
        for offset in range(7):
            day = monday + dt.timedelta(days=offset)
            for gid, group in self.groups.items():
                if gid == own_gid:
                    continue
                for slot in self.group_slots[gid]:
                    if slot.day != DAYS[day.weekday()]:
                        continue
                    runner, _ = self.who_runs(gid, day)
                    m = {
                        "client_id": cid,
                        "region_id": enr.get("region_id"),
                        "week": week,
                        "date": day.isoformat(),
                        "group_id": gid,
                        "site_id": group.get("site_id"),
                        "delivery": group.get("delivery"),
                        "start": fmt(slot.start),
                        "end": fmt(slot.end),
                        "facilitator_id": runner,
                        "timezone": (self.sites.get(str(group.get("site_id"))) or {}).get(
                            "timezone"
                        ),
                    }
                    found.append(
                        (m, self.makeup_faults(m, others), self.seat_free(gid, day, others))
                    )
        return found

    def check_refusal(self, refusal: Json) -> None:
        cid = refusal.get("client_id")
        who = [cid] if isinstance(cid, str) else []
        reasons = refusal.get("reasons")
        if (
            not isinstance(reasons, list)
            or not reasons
            or any(r not in REASON_CODES for r in reasons)
        ):
            self.add("rule 12", f"client {cid}: make-up refused with reasons {reasons!r}", who)
            reasons = reasons if isinstance(reasons, list) else []
        candidates = self.week_candidates(refusal)
        fits = [m for m, faults, free in candidates if not faults and free]
        if fits:
            where = f"{fits[0]['group_id']} on {fits[0]['date']}"
            self.add("rule 12", f"client {cid}: make-up refused, but {where} fits", who)
            return
        seat_only = [m for m, faults, free in candidates if not faults and not free]
        if "groups_full" in reasons and not seat_only:
            self.add(
                "rule 12",
                f"client {cid}: make-up refused for groups_full, "
                "but no occurrence that week lacks only a seat",
                who,
            )
        if "no_group_in_availability" in reasons and seat_only:
            where = f"{seat_only[0]['group_id']} on {seat_only[0]['date']}"
            self.add(
                "rule 12",
                f"client {cid}: make-up refused for no_group_in_availability, "
                f"but {where} meets in their availability",
                who,
            )

    def check_version_bump(self, cid: str, old: Json, new: Json) -> None:
        before, after = old.get("schedule_version"), new.get("schedule_version")
        if isinstance(before, int) and after != before + 1:
            self.add(
                "payload",
                f"client {cid}: moved schedule has schedule_version {after!r}, "
                f"expected {before + 1}",
                [cid],
            )

    def check_rescheduled(self) -> None:
        """``rescheduled`` names the existing clients whose schedule changed.

        The shape is not in the contract (issue 3's output lists only scheduled, waitlisted and
        stats); entries may be client ids or client.rescheduled payloads. READING (strict): the
        list is exact: each entry is an existing client still placed with a changed schedule
        (a payload entry must equal the client's ``scheduled`` entry), and every existing client
        placed with a changed schedule is listed.
        """
        entries = self.output.get("rescheduled")
        if entries is None:
            return
        out = {s.get("client_id"): s for s in self.scheduled}
        listed: set[str] = set()
        for entry in entries:
            cid = entry.get("client_id") if isinstance(entry, Mapping) else entry
            if not isinstance(cid, str):
                self.add("payload", f"rescheduled entry {entry!r} names no client")
                continue
            listed.add(cid)
            old = self.existing.get(cid)
            if old is None:
                self.add(
                    "payload", f"client {cid}: rescheduled but had no existing schedule", [cid]
                )
            elif cid not in out:
                self.add("payload", f"client {cid}: rescheduled but not in scheduled", [cid])
            elif _stable_key(out[cid]) == _stable_key(old):
                self.add(
                    "payload",
                    f"client {cid}: listed as rescheduled but its schedule is unchanged",
                    [cid],
                )
            elif isinstance(entry, Mapping) and _stable_key(out[cid]) != _stable_key(entry):
                self.add(
                    "payload",
                    f"client {cid}: rescheduled payload differs from its scheduled entry",
                    [cid],
                )
        for cid, old in self.existing.items():
            new = out.get(cid)
            if new is not None and cid not in listed and _stable_key(new) != _stable_key(old):
                self.add(
                    "payload",
                    f"client {cid}: schedule changed but client is not listed in rescheduled",
                    [cid],
                )


_STABLE_FIELDS = (
    "group_id",
    "facilitator_id",
    "therapist_id",
    "individual delivery",
    "individual site_id",
    "individual day",
    "individual start",
    "individual end",
    "start_date",
    "end_date",
)


def _stable_key(sched: Json) -> tuple[Any, ...]:
    group = sched.get("group") if isinstance(sched.get("group"), Mapping) else {}
    ind = sched.get("individual") if isinstance(sched.get("individual"), Mapping) else {}
    return (
        group.get("group_id"),
        group.get("facilitator_id"),
        ind.get("therapist_id"),
        ind.get("delivery"),
        ind.get("site_id"),
        ind.get("day"),
        ind.get("start"),
        ind.get("end"),
        sched.get("start_date"),
        sched.get("end_date"),
    )


def _session_keys(sessions: Any) -> list[tuple[Any, Any, Any]]:
    return [
        (s.get("day"), s.get("start"), s.get("end"))
        for s in sessions or []
        if isinstance(s, Mapping)
    ]


def _items(snapshot: Json, key: str, id_key: str) -> list[Json]:
    return [
        x
        for x in snapshot.get(key) or []
        if isinstance(x, Mapping) and isinstance(x.get(id_key), str)
    ]


def check_findings(snapshot: Json, output: Json) -> list[Finding]:
    """Every broken rule of ``output`` for ``snapshot``, structured."""
    return _Checker(snapshot, output).run()


def check(snapshot: Json, output: Json) -> list[str]:
    """Every broken rule of ``output`` for ``snapshot``, one human-readable line each, naming the
    SCHEDULING.md rule and the client, group or therapist involved. Empty means valid."""
    return [str(f) for f in check_findings(snapshot, output)]
