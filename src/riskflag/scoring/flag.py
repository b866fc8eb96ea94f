"""Who the teams contact tonight: every household ranked by raw score, a risk band from its
calibrated probability, and each team's capacity filled from the top, above the probability
floor, skipping the households that must not be contacted."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskflag import selection
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
    """The team each household is flagged for tonight (None: not flagged): the one capacity
    selection (riskflag.selection), with tonight's suppressions."""
    return selection.teams_at_capacity(
        ranked,
        ranked["raw_score"].to_numpy(),
        ranked["probability"].to_numpy(),
        teams,
        floor,
        ranked["suppressed"].to_numpy(),
    )


def status(flagged: pd.Series, previous: list[set[str]]) -> pd.Series:
    """new (never flagged before), continuing (flagged at the last run) or returning (flagged at
    an earlier run, not the last). `previous`: flagged households of earlier runs, latest first."""
    last = previous[0] if previous else set()
    ever = set().union(*previous) if previous else set()
    return flagged.map(lambda h: "continuing" if h in last else ("returning" if h in ever else "new"))
