"""Point-in-time household features, cohorts and labels at as-of dates. Public interface: the
names below (the module `build` holds the feature SQL)."""

from riskflag.features import build
from riskflag.features.build import FEATURES, STAGES, linkage_at, objecting_households
from riskflag.features.dates import Periods, add_months, month_end, month_ends, plan_periods

__all__ = [
    "FEATURES", "STAGES", "Periods", "add_months", "build", "linkage_at", "month_end", "month_ends",
    "objecting_households", "plan_periods",
]  # fmt: skip
