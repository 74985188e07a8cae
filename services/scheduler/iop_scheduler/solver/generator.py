"""Synthetic provider networks: realistic, seeded, and hard in the ways real networks are.

Each region has sites with evening and weekend windows, groups across the three tracks (some for
adolescents, some women- or men-only, some in Spanish, some by telehealth, a few with a fixed
facilitator), therapists with mixed credentials, modalities, languages, sites, availability, hours
and caseloads, and clients whose evenings and weekends vary. ``load`` is demand over seats:
at 1.0 there are as many enrollments as group seats, so the network is oversubscribed once fit,
time and therapist limits are counted.

What makes placement a real problem (and no rigging of the first-fit clerk): clients with narrow
availability (weekends only, two evenings) compete with flexible clients for the same groups;
Spanish-speaking and adolescent clients need scarce therapists; dual-diagnosis and DBT /
trauma-informed groups need scarce facilitators whom a greedy choice can spend elsewhere.
Contact blocks are synthetic (``example.org``), never real people.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

TRACKS = ("substance_use", "mental_health", "dual_diagnosis")
TRACK_WEIGHTS = (0.4, 0.35, 0.25)
MODALITIES = (
    "cbt",
    "dbt",
    "trauma_informed",
    "mindfulness",
    "relapse_prevention",
    "psychoeducation",
)
CLINICAL = ("LCSW", "LPC", "LMHC", "LMFT", "PsyD", "PhD", "MD", "PMHNP")
ADDICTION = ("LADC", "CADC", "LCADC", "CAADC", "LAC", "CSAC")
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def _block(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


# Session patterns: (population, blocks). Adult patterns give >= 8 h so that with the 1 h
# individual session they reach 9 h; adolescent ones give 5-6 h.
ADULT_PATTERNS: tuple[tuple[dict[str, str], ...], ...] = (
    tuple(_block(d, "18:00", "21:00") for d in ("mon", "wed", "thu")),
    tuple(_block(d, "18:00", "21:00") for d in ("tue", "wed", "fri")),
    tuple(_block(d, "17:30", "20:30") for d in ("mon", "tue", "thu")),
    tuple(_block(d, "18:30", "21:30") for d in ("tue", "thu", "fri")),
    (_block("sat", "09:00", "13:00"), _block("sun", "09:00", "13:00")),
    (_block("sat", "13:00", "17:00"), _block("sun", "13:00", "17:00")),
    (
        _block("wed", "18:00", "21:00"),
        _block("sat", "09:00", "12:00"),
        _block("sun", "09:00", "12:00"),
    ),
)
TEEN_PATTERNS: tuple[tuple[dict[str, str], ...], ...] = (
    tuple(_block(d, "17:00", "19:00") for d in ("mon", "wed", "thu")),
    tuple(_block(d, "17:00", "19:00") for d in ("tue", "thu", "fri")),
    (_block("sat", "10:00", "13:00"), _block("sun", "10:00", "12:00")),
)
CLIENT_AVAILABILITY = ("flexible", "evenings", "weekends", "narrow")


class _Region:
    def __init__(
        self, rng: random.Random, index: int, sites: int, load: float, start: date
    ) -> None:
        self.rng = rng
        self.region_id = f"r{index:02d}"
        self.timezone = TIMEZONES[index % len(TIMEZONES)]
        self.start = start
        self.load = load
        self.sites = [self._site(i) for i in range(sites)]
        self.groups: list[dict[str, Any]] = []
        for site in self.sites:
            for _ in range(rng.choice((6, 7, 7, 7))):
                self.groups.append(self._group(site, len(self.groups)))
        self.therapists: list[dict[str, Any]] = []
        for group in self.groups:
            if rng.random() < 0.55:
                self.therapists.append(self._anchor(group))
        while len(self.therapists) < round(len(self.groups) * 0.875):
            self.therapists.append(self._therapist(self.rng.choice(self.sites)))
        for group in self.groups:
            qualified = [t for t in self.therapists if _qualifies(t, group)]
            if qualified and rng.random() < 0.25:
                group["facilitator_id"] = rng.choice(qualified)["therapist_id"]
        seats = sum(g["capacity"] for g in self.groups)
        self.enrollments = [self._client(i) for i in range(round(seats * load))]

    def _site(self, i: int) -> dict[str, Any]:
        windows = [_block(d, "17:00", "21:30") for d in WEEKDAYS]
        windows += [_block("sat", "08:00", "18:00")]
        if self.rng.random() < 0.7:
            windows.append(_block("sun", "08:00", "18:00"))
        return {
            "site_id": f"{self.region_id}-s{i}",
            "name": f"Site {self.region_id}-{i}",
            "region_id": self.region_id,
            "timezone": self.timezone,
            "windows": windows,
        }

    def _group(self, site: dict[str, Any], i: int) -> dict[str, Any]:
        rng = self.rng
        track = rng.choices(TRACKS, TRACK_WEIGHTS)[0]
        population = "adolescent" if rng.random() < 0.15 else "adult"
        patterns = TEEN_PATTERNS if population == "adolescent" else ADULT_PATTERNS
        has_sunday = any(w["day"] == "sun" for w in site["windows"])
        usable = [p for p in patterns if has_sunday or all(b["day"] != "sun" for b in p)]
        gender = rng.choices(("any", "women", "men"), (0.8, 0.14, 0.06))[0]
        modality = {
            "substance_use": rng.choice(("relapse_prevention", "cbt", "psychoeducation", "dbt")),
            "mental_health": rng.choice(("cbt", "dbt", "mindfulness", "trauma_informed")),
            "dual_diagnosis": rng.choice(("cbt", "trauma_informed", "dbt", "relapse_prevention")),
        }[track]
        return {
            "group_id": f"{site['site_id']}-g{i}",
            "site_id": site["site_id"],
            "delivery": "telehealth" if rng.random() < 0.2 else "in_person",
            "track": track,
            "modality": modality,
            "population": population,
            "gender": gender if population == "adult" else "any",
            "language": "es" if rng.random() < 0.18 else "en",
            "capacity": rng.choice((8, 10, 10, 12, 12)),
            "sessions": [dict(b) for b in rng.choice(usable)],
            "facilitator_id": None,
            "open_from": (self.start + timedelta(days=rng.choice((0, 0, 7, 14)))).isoformat(),
        }

    def _credentials(self, track: str | None) -> list[str]:
        rng = self.rng
        kind = {
            "mental_health": "clinical",
            "substance_use": "addiction",
            "dual_diagnosis": "both",
        }.get(track or "", rng.choices(("clinical", "addiction", "both"), (0.45, 0.3, 0.25))[0])
        creds = []
        if kind in ("clinical", "both"):
            creds.append(rng.choice(CLINICAL))
        if kind in ("addiction", "both"):
            creds.append(rng.choice(ADDICTION))
        return creds

    def _availability(self, anchor: dict[str, Any] | None) -> list[dict[str, str]]:
        rng = self.rng
        days = set(rng.sample(WEEKDAYS, rng.choice((2, 3, 4, 5))))
        weekend = set(rng.sample(("sat", "sun"), rng.choice((0, 1, 2))))
        if anchor is not None:
            for b in anchor["sessions"]:
                (weekend if b["day"] in ("sat", "sun") else days).add(b["day"])
        blocks = [_block(d, "16:30", "21:30") for d in WEEKDAYS if d in days]
        blocks += [_block(d, "08:00", "18:00") for d in ("sat", "sun") if d in weekend]
        return blocks

    def _therapist(
        self, home: dict[str, Any], anchor: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        sites = {home["site_id"]}
        if rng.random() < 0.4:
            sites.add(rng.choice(self.sites)["site_id"])
        modalities = set(rng.sample(MODALITIES, rng.choice((1, 2, 3))))
        populations = rng.choices(
            (["adult"], ["adult", "adolescent"], ["adolescent"]), (0.72, 0.22, 0.06)
        )[0]
        languages = ["en", "es"] if rng.random() < 0.2 else ["en"]
        telehealth = rng.random() < 0.6
        credentials = self._credentials(None)
        if anchor is not None:
            credentials = sorted(set(credentials) | set(self._credentials(anchor["track"])))
            modalities.add(anchor["modality"])
            populations = sorted(set(populations) | {anchor["population"]})
            languages = sorted(set(languages) | {anchor["language"]})
            telehealth = telehealth or anchor["delivery"] == "telehealth"
        number = len(self.therapists)
        return {
            "therapist_id": f"{self.region_id}-t{number:03d}",
            "name": f"Therapist {self.region_id}-{number}",
            "site_ids": sorted(sites),
            "telehealth": telehealth,
            "credentials": credentials,
            "modalities": sorted(modalities),
            "populations": populations,
            "languages": languages,
            "availability": self._availability(anchor),
            "max_weekly_hours": rng.choice((16, 20, 24, 24, 28, 32)),
            "max_caseload": rng.choice((8, 10, 12, 12, 14)),
        }

    def _anchor(self, group: dict[str, Any]) -> dict[str, Any]:
        home = next(s for s in self.sites if s["site_id"] == group["site_id"])
        return self._therapist(home, anchor=group)

    def _client_availability(self, like: dict[str, Any]) -> list[dict[str, str]]:
        """Evenings and weekends that vary. Most people look for a programme they can attend,
        so three in four clients can make the sessions of the group they resemble; the rest
        are free when they are free."""
        rng = self.rng
        kind = rng.choices(CLIENT_AVAILABILITY, (0.3, 0.3, 0.2, 0.2))[0]
        if kind == "flexible":
            days = set(rng.sample(WEEKDAYS, rng.choice((4, 5))))
            weekend = {"sat", "sun"}
        elif kind == "evenings":
            days = set(rng.sample(WEEKDAYS, rng.choice((3, 4, 5))))
            weekend = set(rng.sample(("sat", "sun"), rng.choice((0, 1))))
        elif kind == "weekends":
            days = set(rng.sample(WEEKDAYS, rng.choice((0, 1))))
            weekend = {"sat", "sun"}
        else:
            days = set(rng.sample(WEEKDAYS, 3))
            weekend = set()
        if rng.random() < 0.75:
            for b in like["sessions"]:
                (weekend if b["day"] in ("sat", "sun") else days).add(b["day"])
        start = rng.choice(("16:30", "17:00", "17:30"))
        end = rng.choice(("21:00", "21:30", "22:00"))
        blocks = [_block(d, start, end) for d in WEEKDAYS if d in days]
        for d in ("sat", "sun"):
            if d in weekend:
                blocks.append(
                    _block(
                        d,
                        rng.choice(("08:00", "09:00")),
                        rng.choice(("13:00", "17:00", "18:00", "18:00")),
                    )
                )
        return blocks

    def _client(self, i: int) -> dict[str, Any]:
        rng = self.rng
        cid = f"{self.region_id}-c{i:04d}"
        # Demand follows the supply of groups, with the usual skew towards scarce segments.
        like = rng.choice(self.groups)
        population = (
            like["population"] if rng.random() < 0.9 else rng.choice(("adult", "adolescent"))
        )
        language = like["language"] if rng.random() < 0.85 else rng.choice(("en", "es"))
        track = like["track"] if rng.random() < 0.8 else rng.choices(TRACKS, TRACK_WEIGHTS)[0]
        gender = rng.choices(
            ("woman", "man", "nonbinary", "undisclosed"), (0.47, 0.45, 0.05, 0.03)
        )[0]
        home = next(s for s in self.sites if s["site_id"] == like["site_id"])
        others = [s["site_id"] for s in self.sites if s is not home]
        extra = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2))))
        prefs = [home["site_id"], *extra]
        modalities = rng.sample(MODALITIES, rng.choice((0, 0, 1, 2)))
        return {
            "client_id": cid,
            "region_id": self.region_id,
            "track": track,
            "population": population,
            "gender": gender,
            "language": language,
            "preferred_site_ids": prefs,
            "accepts_telehealth": rng.random() < (0.9 if like["delivery"] == "telehealth" else 0.4),
            "gender_specific_group": gender == "woman" and rng.random() < 0.3,
            "availability": self._client_availability(like),
            "requested_start": (self.start + timedelta(days=rng.randrange(0, 28))).isoformat(),
            "program_weeks": rng.choice((6, 8, 8, 10, 12)),
            "priority": rng.choices(("routine", "step_down", "urgent"), (0.65, 0.25, 0.1))[0],
            "indicated_modalities": modalities,
            "contact": {
                "first_name": f"Client{i}",
                "email": f"{cid}@example.org",
                "phone": f"+1555{i:07d}",
                "email_consent": True,
                "sms_consent": rng.random() < 0.5,
            },
        }


def _qualifies(t: dict[str, Any], g: dict[str, Any]) -> bool:
    """Rough facilitator fit used only to pick roster-fixed facilitators that make sense."""
    creds = set(t["credentials"])
    clinical, addiction = bool(creds & set(CLINICAL)), bool(creds & set(ADDICTION))
    ok = {
        "mental_health": clinical,
        "substance_use": addiction,
        "dual_diagnosis": clinical and addiction,
    }[g["track"]]
    if g["modality"] in ("dbt", "trauma_informed") and g["modality"] not in t["modalities"]:
        return False
    if g["delivery"] == "in_person" and g["site_id"] not in t["site_ids"]:
        return False
    if g["delivery"] == "telehealth" and not t["telehealth"]:
        return False
    return ok and g["population"] in t["populations"] and g["language"] in t["languages"]


def generate(
    seed: int,
    regions: int = 1,
    sites_per_region: int = 6,
    load: float = 1.0,
    start: date = date(2026, 12, 1),
) -> dict[str, Any]:
    """A snapshot with no existing schedules (see the module docstring)."""
    rng = random.Random(seed)
    out: dict[str, Any] = {
        "sites": [],
        "groups": [],
        "therapists": [],
        "enrollments": [],
        "schedules": [],
        "as_of": start.isoformat(),
    }
    for r in range(regions):
        region = _Region(rng, r + 1, sites_per_region, load, start)
        out["sites"] += region.sites
        out["groups"] += region.groups
        out["therapists"] += region.therapists
        out["enrollments"] += region.enrollments
    return out
