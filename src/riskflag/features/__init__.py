"""Point-in-time household features, cohorts and labels at as-of dates. Public interface: the
names below."""

from riskflag.features import build as fb
from riskflag.features.build import FEATURES, STAGES, build, linkage_at, objecting_households
from riskflag.features.dates import Periods, add_months, month_end, month_ends, plan_periods

__all__ = [
    "FEATURES", "STAGES", "Periods", "add_months", "build", "fb", "linkage_at", "month_end", "month_ends",
    "objecting_households", "plan_periods",
]  # fmt: skip
