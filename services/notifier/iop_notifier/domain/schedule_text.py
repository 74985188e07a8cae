"""Days, dates and times as a client reads them, in English and Spanish (no locale database:
the two languages we ship are spelled out here so output never depends on the host's locales)."""

from dataclasses import dataclass
from datetime import date, timedelta

from iop_contracts.values import Day, minutes

SUPPORTED_LANGUAGES = ("en", "es")

_DAYS_PLURAL = {
    "en": ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos"],
}
_DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
_DAYS_SHORT = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "es": ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
}
_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
}  # fmt: skip


def language_of(tag: str) -> str:
    """The template language for a BCP 47 tag: "es-MX" -> "es"; anything unsupported -> "en"."""
    primary = tag.split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else "en"


def clock(hhmm: str, lang: str) -> str:
    """18:00 -> "6:00 PM" in English, "18:00" in Spanish."""
    total = minutes(hhmm)
    hour, minute = divmod(total, 60)
    if lang == "es":
        return f"{hour:02d}:{minute:02d}"
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d} {suffix}"


def weekday_plural(day: Day, lang: str) -> str:
    return _DAYS_PLURAL[lang][day.weekday]


def long_date(value: date, lang: str) -> str:
    """2026-12-02 -> "Wednesday, December 2, 2026" / "miércoles, 2 de diciembre de 2026"."""
    weekday = _DAYS[lang][value.weekday()]
    month = _MONTHS[lang][value.month - 1]
    if lang == "es":
        return f"{weekday}, {value.day} de {month} de {value.year}"
    return f"{weekday}, {month} {value.day}, {value.year}"


def short_date(value: date, lang: str) -> str:
    """For SMS, where characters count: "Wed Dec 2" / "mié 2 dic"."""
    weekday = _DAYS_SHORT[lang][value.weekday()]
    month = _MONTHS[lang][value.month - 1][:3]
    if lang == "es":
        return f"{weekday} {value.day} {month}"
    return f"{weekday} {month.capitalize()} {value.day}"


def first_on_or_after(start: date, day: Day) -> date:
    """The first date on or after `start` that falls on `day`."""
    return start + timedelta(days=(day.weekday - start.weekday()) % 7)


@dataclass(frozen=True, slots=True)
class SessionLine:
    """One weekly session as the templates show it."""

    kind: str  # "group" or "individual"
    days: str
    start: str
    end: str
    online: bool
