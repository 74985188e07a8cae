"""The payload examples of CONTRACT.md, as written there (for tests, docs and integrators)."""

from typing import Any

SITE: dict[str, Any] = {
    "site_id": "bos-1", "name": "Boston Back Bay", "region_id": "ne",
    "timezone": "America/New_York",
    "windows": [{"day": "mon", "start": "17:00", "end": "21:30"},
                {"day": "sat", "start": "08:00", "end": "18:00"}],
    "closed_dates": ["2026-12-25", "2027-01-01"],
}  # fmt: skip
GROUP: dict[str, Any] = {
    "group_id": "bos-1-sud-eve-a", "site_id": "bos-1", "delivery": "in_person",
    "track": "substance_use", "modality": "relapse_prevention", "population": "adult",
    "gender": "any", "language": "en", "capacity": 12,
    "sessions": [{"day": "mon", "start": "18:00", "end": "21:00"},
                 {"day": "wed", "start": "18:00", "end": "21:00"},
                 {"day": "thu", "start": "18:00", "end": "21:00"}],
    "facilitator_id": None, "open_from": "2026-12-01",
}  # fmt: skip
THERAPIST: dict[str, Any] = {
    "therapist_id": "t-017", "name": "Dana Whitfield", "site_ids": ["bos-1", "bos-2"],
    "telehealth": True, "credentials": ["LCSW", "LADC"],
    "modalities": ["cbt", "relapse_prevention"], "populations": ["adult"],
    "languages": ["en", "es"], "availability": [{"day": "mon", "start": "16:00", "end": "21:30"}],
    "max_weekly_hours": 20, "max_caseload": 12,
    "absences": [{"start_date": "2026-12-21", "end_date": "2026-12-27"}],
}  # fmt: skip
ENROLLMENT: dict[str, Any] = {
    "client_id": "c-8f3a", "region_id": "ne", "track": "substance_use", "population": "adult",
    "gender": "woman", "language": "en", "preferred_site_ids": ["bos-1", "bos-2"],
    "accepts_telehealth": True, "gender_specific_group": False,
    "availability": [{"day": "mon", "start": "17:30", "end": "22:00"},
                     {"day": "sat", "start": "09:00", "end": "13:00"}],
    "requested_start": "2026-12-01", "program_weeks": 8, "priority": "step_down",
    "indicated_modalities": ["dbt"],
    "contact": {"first_name": "Ana", "email": "ana@example.org", "phone": "+16175550101",
                "email_consent": True, "sms_consent": False},
}  # fmt: skip
SCREENING: dict[str, Any] = {
    "needs_medical_detox": False, "needs_24h_supervision": False, "imminent_risk": False,
    "medically_stable": True, "stable_living_environment": True, "prior_level": "inpatient",
}  # fmt: skip
SCHEDULED: dict[str, Any] = {
    "client_id": "c-8f3a", "region_id": "ne", "schedule_version": 1,
    "group": {"group_id": "bos-1-sud-eve-a", "site_id": "bos-1", "delivery": "in_person",
              "facilitator_id": "t-017",
              "sessions": [{"day": "mon", "start": "18:00", "end": "21:00"}]},
    "individual": {"therapist_id": "t-017", "delivery": "in_person", "site_id": "bos-1",
                   "day": "sat", "start": "09:00", "end": "10:00"},
    "start_date": "2026-12-02", "end_date": "2027-01-26", "weekly_hours": 10.0,
    "timezone": "America/New_York",
}  # fmt: skip

EXAMPLES: dict[str, dict[str, Any]] = {
    "iop.site.upserted": SITE,
    "iop.group.upserted": GROUP,
    "iop.group.retired": {"group_id": "bos-1-sud-eve-a"},
    "iop.therapist.upserted": THERAPIST,
    "iop.therapist.retired": {"therapist_id": "t-017"},
    "iop.enrollment.requested": ENROLLMENT,
    "iop.referral.submitted": {**ENROLLMENT, "screening": SCREENING},
    "iop.enrollment.declined": {"client_id": "c-8f3a", "region_id": "ne",
                                "reasons": ["needs_medical_detox"],
                                "recommended_level": "inpatient"},
    "iop.enrollment.withdrawn": {"client_id": "c-8f3a", "region_id": "ne"},
    "iop.client.discharged": {"client_id": "c-8f3a", "region_id": "ne"},
    "iop.enrollment.extended": {"client_id": "c-8f3a", "region_id": "ne", "program_weeks": 12},
    "iop.client.extension_declined": {
        "client_id": "c-8f3a",
        "region_id": "ne",
        "reasons": ["groups_full"],
    },
    "iop.client.scheduled": SCHEDULED,
    # t-017 is away 21-27 December: the Monday group has a substitute (below), Saturday's
    # individual session with t-017 is cancelled.
    "iop.client.rescheduled": {**SCHEDULED, "schedule_version": 2,
                               "cancelled": [{"date": "2026-12-26", "kind": "individual",
                                              "reason": "therapist_absent"}]},
    "iop.client.waitlisted": {"client_id": "c-8f3a", "region_id": "ne",
                              "reasons": ["no_group_in_availability"], "detail": "no group fits"},
    "iop.client.unscheduled": {"client_id": "c-8f3a", "region_id": "ne", "cause": "withdrawn"},
    "iop.client.completed": {
        "client_id": "c-8f3a",
        "region_id": "ne",
        "schedule_version": 1,
        "end_date": SCHEDULED["end_date"],
    },
    "iop.facilitator.substituted": {"group_id": "bos-1-sud-eve-a", "region_id": "ne",
                                    "date": "2026-12-21", "facilitator_id": "t-022",
                                    "replaces": "t-017"},
    "iop.makeup.requested": {"client_id": "c-8f3a", "region_id": "ne", "week": "2026-W50",
                             "hours": 3.0},
    "iop.client.makeup_scheduled": {"client_id": "c-8f3a", "region_id": "ne", "week": "2026-W50",
                                    "date": "2026-12-10", "group_id": "bos-1-sud-eve-a",
                                    "site_id": "bos-1", "delivery": "in_person", "start": "18:00",
                                    "end": "21:00", "facilitator_id": "t-017",
                                    "timezone": "America/New_York"},
    "iop.client.makeup_unavailable": {"client_id": "c-8f3a", "region_id": "ne",
                                      "week": "2026-W50", "reasons": ["groups_full"]},
    "iop.attendance.recorded": {"client_id": "c-8f3a", "region_id": "ne", "date": "2026-12-07",
                                "kind": "group", "group_id": "bos-1-sud-eve-a",
                                "therapist_id": None, "status": "left_early",
                                "minutes_attended": 170, "recorded_by": "bos-1-front-desk"},
    "iop.client.hours_at_risk": {"client_id": "c-8f3a", "region_id": "ne", "week": "2026-W50",
                                 "attended_hours": 3.0, "remaining_scheduled_hours": 4.0,
                                 "minimum_hours": 9.0},
    "iop.client.attendance_alert": {"client_id": "c-8f3a", "region_id": "ne",
                                    "reason": "consecutive_absences", "count": 2,
                                    "last_date": "2026-12-09"},
    "iop.notification.sent": {"client_id": "c-8f3a", "schedule_version": 1, "channel": "email",
                              "purpose": "confirmation"},
    "iop.notification.failed": {"client_id": "c-8f3a", "schedule_version": 1, "channel": "email",
                                "reason": "mailbox_unavailable", "purpose": "confirmation"},
    "iop.notification.suppressed": {"client_id": "c-8f3a", "schedule_version": 2,
                                    "channel": "sms", "reason": "no_consent", "purpose": "update"},
}  # fmt: skip
