"""Month-end projection from the run rate: weekdays and weekends are averaged apart (a fleet idles on
Saturdays), over the month's complete days; today counts at least its day's rate. Time comes in as ``as_of``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from shipyard.minutes.scan import month_bounds


@dataclass
class Forecast:
    used: float
    included: float
    budget: float
    weekday_rate: float
    weekend_rate: float
    projected: float
    runs_out_on: date | None
    # per day: (day, minutes that day, actual cumulative or None for the future, projected cumulative)
    days: list[tuple[date, float, float | None, float]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.included if self.included > 0 else 0.0

    @property
    def over_budget(self) -> bool:
        return self.budget > 0 and self.projected > self.budget


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def forecast(by_day: Mapping[str, float], month: str, as_of: datetime, included: float, budget: float) -> Forecast:
    first, last = month_bounds(month)
    today = as_of.date()
    complete = [first + timedelta(days=i) for i in range((min(today, last + timedelta(days=1)) - first).days)]
    weekday = _mean([by_day.get(d.isoformat(), 0.0) for d in complete if d.weekday() < 5])
    weekend = _mean([by_day.get(d.isoformat(), 0.0) for d in complete if d.weekday() >= 5])
    if weekday is None and weekend is None:
        elapsed = (as_of - datetime.combine(today, datetime.min.time(), as_of.tzinfo)).total_seconds() / 86400
        guess = by_day.get(today.isoformat(), 0.0) / max(elapsed, 1 / 24)
        weekday = weekend = guess
    weekday_rate = weekday if weekday is not None else weekend or 0.0
    weekend_rate = weekend if weekend is not None else weekday_rate
    days: list[tuple[date, float, float | None, float]] = []
    actual = projected = 0.0
    runs_out: date | None = None
    day = first
    while day <= last:
        spent = by_day.get(day.isoformat(), 0.0)
        rate = weekday_rate if day.weekday() < 5 else weekend_rate
        if day < today:
            actual += spent
            projected = actual
            days.append((day, spent, actual, projected))
        elif day == today:
            actual += spent
            projected = actual + max(0.0, rate - spent)
            days.append((day, spent, actual, projected))
        else:
            projected += rate
            days.append((day, 0.0, None, projected))
        if runs_out is None and included > 0 and projected >= included:
            runs_out = day
        day += timedelta(days=1)
    return Forecast(actual, included, budget, weekday_rate, weekend_rate, projected, runs_out, days)
