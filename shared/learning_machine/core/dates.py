"""Resolve the dates people say ("yesterday", "last Friday", "March 3") against a reference time."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_RELATIVE = re.compile(r"^(?:(in)\s+)?(\d{1,3})\s+(day|week)s?(?:\s+(ago))?$")
_WEEKDAY = re.compile(rf"^(last|next|this)\s+({'|'.join(WEEKDAYS)})$")
_MONTH = "(" + "|".join(m[:3] for m in MONTHS) + r")[a-z]*\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(\d{4}))?"
_MONTH_DAY = re.compile(rf"^(?:on\s+)?{_MONTH}\s+{_DAY}{_YEAR}$")
_DAY_MONTH = re.compile(rf"^(?:on\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}$")


def resolve_date(text: str | None, reference: datetime) -> date | None:
    """An ISO date for what was said, or None when it cannot be resolved unambiguously."""
    if not text:
        return None
    said = " ".join(text.strip().lower().split())
    today = reference.date()
    try:
        return date.fromisoformat(said)
    except ValueError:
        pass
    fixed = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if said in fixed:
        return today + timedelta(days=fixed[said])
    if match := _RELATIVE.match(said):
        amount = int(match.group(2)) * (7 if match.group(3) == "week" else 1)
        if match.group(4):
            return today - timedelta(days=amount)
        return today + timedelta(days=amount) if match.group(1) else None
    if match := _WEEKDAY.match(said):
        target = WEEKDAYS.index(match.group(2))
        delta = target - today.weekday()
        if match.group(1) == "last":
            return today + timedelta(days=delta - 7 if delta >= 0 else delta)
        if match.group(1) == "next":
            return today + timedelta(days=delta + 7 if delta <= 0 else delta)
        return today + timedelta(days=delta)
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        if match := pattern.match(said):
            month = [m[:3] for m in MONTHS].index(match.group(month_group)[:3]) + 1
            year = int(match.group(3)) if match.group(3) else today.year
            try:
                return date(year, month, int(match.group(day_group)))
            except ValueError:
                return None
    return None
