"""As-of dates: month ends, and the periods a training job splits them into.

Every period's labels end before the next period's as-of dates begin (a full horizon apart), so
no household's outcome is seen by two periods: training, then validation (early stopping and
the choice of calibration), then calibration (the calibrator is fitted on a period later than
the training data), then evaluation (the latest dates whose horizon has passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


def month_end(day: date) -> date:
    """The last day of day's month."""
    first_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The end of the month `months` after day's month (before it when negative)."""
    m = day.year * 12 + day.month - 1 + months
    return month_end(date(m // 12, m % 12 + 1, 1))


def month_ends(first: date, last: date) -> list[date]:
    out, d = [], month_end(first)
    while d <= last:
        out.append(d)
        d = add_months(d, 1)
    return out


@dataclass(frozen=True)
class Periods:
    train: tuple[date, ...]
    validation: tuple[date, ...]
    calibration: tuple[date, ...]
    evaluation: tuple[date, ...]

    def all(self) -> list[date]:
        return sorted({*self.train, *self.validation, *self.calibration, *self.evaluation})

    def of(self, day: date) -> str:
        for name in ("train", "calibration", "validation", "evaluation"):
            if day in getattr(self, name):
                return name
        raise KeyError(day)


def plan_periods(
    data_end: date,
    horizon_days: int,
    first_possible: date,
    evaluation_months: int = 3,
    calibration_months: int = 2,
    validation_months: int = 2,
    max_dates: int = 24,
) -> Periods:
    """Month-end as-of dates counted back from the last one whose horizon has passed by
    data_end; each earlier period ends a horizon before the next begins. Training takes what
    is left, back to first_possible (the first date with a year of history) or max_dates."""

    def block(latest: date, months: int) -> list[date]:
        return [add_months(latest, -k) for k in range(months)][::-1]

    def before(dates: list[date]) -> date:
        """The latest month end whose horizon ends before dates[0]."""
        d = month_end(dates[0] - timedelta(days=horizon_days))
        while d + timedelta(days=horizon_days) >= dates[0]:
            d = add_months(d, -1)
        return d

    last = month_end(data_end)
    while last + timedelta(days=horizon_days) > data_end:
        last = add_months(last, -1)
    evaluation = block(last, evaluation_months)
    calibration = block(before(evaluation), calibration_months)
    validation = block(before(calibration), validation_months)
    if before(validation) < month_end(first_possible):
        # a long horizon in a short history: validation and calibration share one period
        validation = calibration
    room = max_dates - len(evaluation) - len(set(calibration) | set(validation))
    train = [d for d in month_ends(first_possible, before(validation))][-room:]
    if not train:
        raise ValueError(
            f"the history ({first_possible} to {data_end}) is too short to train, validate, calibrate "
            f"and evaluate with a {horizon_days}-day horizon"
        )
    return Periods(tuple(train), tuple(validation), tuple(calibration), tuple(evaluation))
