"""Who the teams contact tonight: every household ranked by raw score, a risk band from its
calibrated probability, and each team's capacity filled from the top, above the probability
floor, skipping the households that must not be contacted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from riskflag import selection
from riskflag.config import Bands, CouncilConfig, Team
from riskflag.core import sql
from riskflag.features import FeatureSet
from riskflag.ingest import known, table_exists


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


def suppressions(
    con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, fs: FeatureSet, as_of: date, feats: pd.DataFrame
) -> pd.Series:
    """Why a household in the cohort must not be flagged tonight (None: it may be): contacted by
    the team within nightly.contacted_within_days, or its lead person (named first on the
    current council-tax account) has died."""
    day = sql.day(as_of)
    parts = []
    if table_exists(con, "history_contacts"):
        parts.append(f"""
            SELECT DISTINCT household_ref AS household_id, 'contacted recently' AS reason
            FROM history_contacts
            WHERE {known("contacts")} <= {day} AND contact_date <= {day}
              AND contact_date > {day} - INTERVAL {sql.integer(cfg.nightly.contacted_within_days)} DAY
        """)
    if table_exists(con, "history_deaths"):
        parts.append(f"""
            SELECT DISTINCT c.household_id, 'lead person has died' AS reason FROM {fs.cohort} c
            JOIN {fs.snapshots} s USING (as_of)
            JOIN link_mentions m ON m.source = 'council_tax' AND m.slot = 1 AND m.uprn = c.uprn
             AND m.last_seen >= s.snapshot AND m.first_known <= c.as_of
            JOIN link_persons p USING (identity_id)
            JOIN link_person_xref x ON x.person_id = p.person_id AND x.source = 'deaths'
            JOIN history_deaths d ON CAST(d.notification_ref AS VARCHAR) = x.record
             AND {known("deaths", "d")} <= c.as_of AND d.date_of_death <= c.as_of
        """)
    if not parts:
        return pd.Series([None] * len(feats), index=feats.index, dtype=object)
    rows = con.execute(
        f"SELECT household_id, min(reason) AS reason FROM ({' UNION ALL '.join(parts)}) GROUP BY 1"
    ).df()
    m = dict(zip(rows["household_id"], rows["reason"], strict=True))
    return feats["household_id"].map(m).astype(object).where(lambda s: s.notna(), None)
