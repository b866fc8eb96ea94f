"""Who the teams contact tonight: every household ranked by raw score, a risk band from its
calibrated probability, and each team's capacity filled from the top, above the probability
floor, skipping the households that must not be contacted."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskflag.config import Bands, Team


def band(probability: np.ndarray, bands: Bands) -> np.ndarray:
    return np.select(
        [probability >= bands.very_high, probability >= bands.high, probability >= bands.medium],
        ["very high", "high", "medium"],
        default="low",
    )


def rank(scored: pd.DataFrame) -> pd.DataFrame:
    """Sorted by raw score, highest first; ties to the lower household id, so the same scores
    always give the same list."""
    out = scored.sort_values(["raw_score", "household_id"], ascending=[False, True], kind="mergesort")
    return out.assign(rank=np.arange(1, len(out) + 1)).reset_index(drop=True)


def select(ranked: pd.DataFrame, teams: Sequence[Team], floor: float) -> pd.Series:
    """The team each household is flagged for (None: not flagged). Teams with wards take the top
    of their wards; teams without share the rest of the borough, each next household going to
    the one with most places left. Suppressed households and those under the floor never count
    against a team's capacity."""
    team = pd.Series([None] * len(ranked), index=ranked.index, dtype=object)
    eligible = ranked["suppressed"].isna().to_numpy() & (ranked["probability"].to_numpy() >= floor)
    ward = ranked["ward"].to_numpy()
    assigned = {w for t in teams for w in t.wards}
    for t in teams:
        if t.wards:
            mine = np.flatnonzero(eligible & np.isin(ward, list(t.wards)))[: t.capacity]
            team.iloc[mine] = t.name
    shared = [t for t in teams if not t.wards]
    if shared:
        left = {t.name: t.capacity for t in shared}
        order = {t.name: k for k, t in enumerate(shared)}
        rest = eligible & ~np.isin(ward, list(assigned))
        for i in np.flatnonzero(rest):
            name = max(left, key=lambda n: (left[n], -order[n]))
            if left[name] == 0:
                break
            team.iloc[i] = name
            left[name] -= 1
    return team


def status(flagged: pd.Series, previous: list[set[str]]) -> pd.Series:
    """new (never flagged before), continuing (flagged at the last run) or returning (flagged at
    an earlier run, not the last). `previous`: flagged households of earlier runs, latest first."""
    last = previous[0] if previous else set()
    ever = set().union(*previous) if previous else set()
    return flagged.map(lambda h: "continuing" if h in last else ("returning" if h in ever else "new"))
