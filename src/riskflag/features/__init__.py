"""Point-in-time household features, cohorts and labels at as-of dates. Public interface: the
names below. `build` returns a FeatureSet naming the relations it made in the connection; the
stages after it take that value, never a table by an agreed name."""

from riskflag.features.dates import Periods, add_months, month_end, month_ends, plan_periods
from riskflag.features.household import (
    FEATURES,
    STAGES,
    FeatureSet,
    Linkage,
    build,
    current_version,
    has_source,
    linkage_at,
    objecting_households,
    versions,
)

__all__ = [
    "FEATURES", "STAGES", "FeatureSet", "Linkage", "Periods", "add_months", "build", "current_version",
    "has_source", "linkage_at", "month_end", "month_ends", "objecting_households", "plan_periods", "versions",
]  # fmt: skip
