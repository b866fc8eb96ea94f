"""The one capacity selection: who each team is given, used by the nightly run and by evaluation,
so that an evaluation's precision at capacity is the precision of the list a caseworker receives.

At each as-of date households are taken in rank order (raw score, highest first; ties to the
lower household id). Teams with wards take the top of their wards; teams without share the rest
of the borough, each next household going to the one with most places left (ties to the team
listed first). A household under the probability floor, or suppressed (contacted recently, lead
person died), is never flagged and never takes a place. Evaluation passes no suppressions (they
depend on contacts made after the fact) but does apply the floor: the list a caseworker would
have received leaves those households out too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskflag.config import Team


def rank_order(frame: pd.DataFrame, raw: np.ndarray) -> np.ndarray:
    """Row positions in rank order within each as-of date (dates ascending)."""
    order = pd.DataFrame(
        {
            "as_of": frame["as_of"].to_numpy() if "as_of" in frame else np.zeros(len(frame)),
            "s": -np.asarray(raw, dtype=float),
            "hh": frame["household_id"].to_numpy(),
        }
    )
    return order.sort_values(["as_of", "s", "hh"], kind="mergesort").index.to_numpy()


def _fill(ward: np.ndarray, eligible: np.ndarray, teams: Sequence[Team]) -> np.ndarray:
    """The team of each row of one as-of date, rows in rank order (None: not flagged)."""
    team = np.full(len(ward), None, dtype=object)
    assigned = {w for t in teams for w in t.wards}
    for t in teams:
        if t.wards:
            mine = np.flatnonzero(eligible & np.isin(ward, list(t.wards)))[: t.capacity]
            team[mine] = t.name
    shared = [t for t in teams if not t.wards]
    if shared:
        left = {t.name: t.capacity for t in shared}
        order = {t.name: k for k, t in enumerate(shared)}
        rest = eligible & ~np.isin(ward, list(assigned))
        for i in np.flatnonzero(rest):
            name = max(left, key=lambda n: (left[n], -order[n]))
            if left[name] == 0:
                break
            team[i] = name
            left[name] -= 1
    return team


def teams_at_capacity(
    frame: pd.DataFrame,
    raw: np.ndarray,
    probability: np.ndarray | None,
    teams: Sequence[Team],
    floor: float,
    suppressed: np.ndarray | None = None,
) -> pd.Series:
    """The team each row (a household at an as-of date; columns as_of, household_id, ward) is
    flagged for, None where it is not, on frame's index. `probability` None: no floor (a score
    with no calibrated probability); `suppressed`: a reason (not null) where a household must not
    be flagged."""
    n = len(frame)
    eligible = np.ones(n, dtype=bool)
    if probability is not None:
        eligible &= np.asarray(probability, dtype=float) >= floor
    if suppressed is not None:
        eligible &= ~pd.Series(suppressed).notna().to_numpy()
    ward = frame["ward"].to_numpy() if "ward" in frame else np.full(n, None, dtype=object)
    order = rank_order(frame, raw)
    dates = frame["as_of"].to_numpy()[order] if "as_of" in frame else np.zeros(n)
    out = np.full(n, None, dtype=object)
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]]) if n else np.array([], dtype=int)
    for lo, hi in zip(starts, [*starts[1:], n], strict=True):
        rows = order[lo:hi]
        out[rows] = _fill(ward[rows], eligible[rows], teams)
    return pd.Series(out, index=frame.index, dtype=object)


def at_capacity(
    frame: pd.DataFrame,
    raw: np.ndarray,
    probability: np.ndarray | None,
    teams: Sequence[Team],
    floor: float,
    suppressed: np.ndarray | None = None,
) -> np.ndarray:
    """Whether each row is flagged (see `teams_at_capacity`)."""
    return teams_at_capacity(frame, raw, probability, teams, floor, suppressed).notna().to_numpy()
