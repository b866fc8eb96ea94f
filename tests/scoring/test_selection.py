"""Evaluation selects what the nightly run would have published: for the same scores and teams
(wards, capacity shared by two teams, the probability floor, suppressions), the rows evaluation
counts as contacted at each as-of date are exactly the households on that night's lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskflag import selection
from riskflag.config import Team
from riskflag.modeling.evaluate import select_at_capacity
from riskflag.scoring import flag

TEAMS = [
    Team(name="West", capacity=3, wards=["W1"]),
    Team(name="North", capacity=5),
    Team(name="South", capacity=2),
]
FLOOR = 0.1
DATES = pd.to_datetime(["2025-01-31", "2025-02-28", "2025-03-31"])


def _frame(seed: int = 3, n: int = 60) -> pd.DataFrame:
    """Household-dates in no particular order, as training's frame holds them."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in DATES:
        raw = rng.normal(size=n)
        rows.append(
            pd.DataFrame(
                {
                    "as_of": d,
                    "household_id": [f"H{i:03d}" for i in range(n)],
                    "ward": rng.choice(["W1", "W2", "W3"], size=n),
                    "raw_score": raw,
                    # calibrated: mostly monotone in the raw score, some of the top under the floor
                    "probability": np.clip(1 / (1 + np.exp(-raw)) - rng.uniform(0, 0.7, n), 0, 1),
                    "suppressed": rng.choice([None, None, None, None, "contacted recently"], size=n),
                }
            )
        )
    return pd.concat(rows).sample(frac=1, random_state=seed).reset_index(drop=True)


def _nightly_lists(frame: pd.DataFrame) -> dict:
    """(as_of, household_id) -> team, as each night's run would have published them."""
    out = {}
    for d, night in frame.groupby("as_of"):
        ranked = flag.rank(night.drop(columns="as_of"))
        team = flag.select(ranked, TEAMS, FLOOR)
        out |= {(d, h): t for h, t in zip(ranked["household_id"], team, strict=True) if t is not None}
    return out


def _old_pooled(frame: pd.DataFrame, score: np.ndarray, teams: list[Team]) -> np.ndarray:
    """Evaluation's selection before issue 19: shared capacity pooled, no floor, no suppressions."""
    chosen = np.zeros(len(frame), dtype=bool)
    order = pd.DataFrame(
        {"as_of": frame["as_of"], "hh": frame["household_id"], "s": -score, "ward": frame["ward"]}
    )
    order = order.sort_values(["as_of", "s", "hh"], kind="mergesort")
    assigned = {w for t in teams for w in t.wards}
    for t in (t for t in teams if t.wards):
        chosen[order[order["ward"].isin(t.wards)].groupby("as_of").head(t.capacity).index] = True
    shared = sum(t.capacity for t in teams if not t.wards)
    chosen[order[~order["ward"].isin(assigned)].groupby("as_of").head(shared).index] = True
    return chosen


@pytest.mark.parametrize("with_suppressions", [True, False])
def test_evaluation_selects_the_nightly_runs_lists(with_suppressions: bool) -> None:
    frame = _frame()
    if not with_suppressions:
        frame["suppressed"] = None
    published = _nightly_lists(frame)
    suppressed = frame["suppressed"].to_numpy() if with_suppressions else None
    chosen = select_at_capacity(
        frame, frame["raw_score"].to_numpy(), TEAMS, frame["probability"].to_numpy(), FLOOR, suppressed
    )
    got = set(zip(frame.loc[chosen, "as_of"], frame.loc[chosen, "household_id"], strict=True))
    assert got == set(published)
    assert len(got) == len(DATES) * sum(t.capacity for t in TEAMS)  # enough eligible to fill every list
    teams = selection.teams_at_capacity(
        frame, frame["raw_score"].to_numpy(), frame["probability"].to_numpy(), TEAMS, FLOOR, suppressed
    )
    assert {(a, h): t for a, h, t in zip(frame["as_of"], frame["household_id"], teams, strict=True)
            if t is not None} == published  # fmt: skip
    # the scenario tells the old evaluation apart: it counted households no list would hold
    old = _old_pooled(frame, frame["raw_score"].to_numpy(), TEAMS)
    assert set(zip(frame.loc[old, "as_of"], frame.loc[old, "household_id"], strict=True)) != got
