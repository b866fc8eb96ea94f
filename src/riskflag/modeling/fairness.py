"""Who the model serves worse: selection rate, recall and precision at capacity and
observed/expected per group of age band, sex, ethnicity, disability and household type, each
against the largest group.

Prevention is assistive: being selected brings an offer of help. So the harm to watch is a group
whose households that go on to approach are missed more often (a recall ratio below 1). Groups
come from the equality fields the council holds (homelessness cases, social care and children's
services record sex, ethnicity and disability; benefits a disability premium; dates of birth give
age): a household takes what is recorded for any member, and the audit says how much of the
cohort each field covers. Groups with fewer than MIN_POSITIVES approaches are reported as too
small to judge, not hidden. These fields are never model features.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from riskflag.core import sql
from riskflag.features import linkage_at
from riskflag.ingest import table_exists

MIN_POSITIVES = 30
ATTRIBUTES = ("age_band", "sex", "ethnicity", "disability", "household_type")
AGE_BANDS = (
    (0, 25, "under 25"),
    (25, 35, "25-34"),
    (35, 50, "35-49"),
    (50, 65, "50-64"),
    (65, 200, "65 and over"),
)


def household_type(frame: pd.DataFrame) -> pd.Series:
    adults, children = frame["adults"], frame["children"]
    return pd.Series(
        np.select(
            [
                (adults <= 1) & (children == 0),
                (adults <= 1) & (children > 0),
                (adults >= 2) & (children == 0),
                (adults >= 2) & (children > 0),
            ],
            ["single adult", "single adult with children", "adults, no children", "adults with children"],
            "unknown",
        ),
        index=frame.index,
    )


def recorded_groups(con: duckdb.DuckDBPyConnection, keys: pd.DataFrame) -> pd.DataFrame:
    """(as_of, household_id) -> age band of the eldest member with a date of birth, and the sex,
    ethnicity and disability the council recorded for a member ('unknown' where none is). The
    members are those of the household as the features saw it (the linkage as it stood at the
    date); what each member's records say is read from today's linkage, as labels are."""
    con.register("_keys", keys[["as_of", "household_id"]])
    lk = linkage_at(con, sorted({pd.Timestamp(d).date() for d in keys["as_of"]}))
    parts = []
    for source, cols in (
        ("homelessness_cases", ("sex", "ethnicity", "disability")),
        ("adult_social_care", ("sex", "ethnicity", "disability")),
        ("childrens_services", ("ethnicity", "disability")),
    ):
        if not table_exists(con, f"history_{source}"):
            continue
        ref = {
            "homelessness_cases": "case_ref",
            "adult_social_care": "person_ref",
            "childrens_services": "referral_ref",
        }[source]
        picked = ", ".join(
            f"h.{c}" if c in cols else f"NULL AS {c}" for c in ("sex", "ethnicity", "disability")
        )
        parts.append(
            f"SELECT x.person_id, {picked} FROM history_{source} h JOIN link_person_xref x "
            f"ON x.source = {sql.string(source)} AND x.slot = 1 "
            f"AND x.record = CAST(h.{sql.ident(ref)} AS VARCHAR)"
        )
    if table_exists(con, "history_benefits"):
        parts.append(
            "SELECT x.person_id, NULL AS sex, NULL AS ethnicity, "
            "CASE WHEN h.disability_premium THEN 'yes' END "
            "AS disability FROM history_benefits h JOIN link_person_xref x ON x.source = 'benefits' "
            "AND x.slot = 1 AND x.record = CAST(h.claim_ref AS VARCHAR)"
        )
    union = (
        " UNION ALL ".join(parts)
        or "SELECT NULL AS person_id, NULL AS sex, NULL AS ethnicity, NULL AS disability"
    )
    bands = " ".join(
        f"WHEN age >= {sql.integer(lo)} AND age < {sql.integer(hi)} THEN {sql.string(name)}"
        for lo, hi, name in AGE_BANDS
    )
    out = con.execute(f"""
        WITH person AS (
            SELECT person_id, mode(sex ORDER BY sex) AS sex,
                   mode(ethnicity ORDER BY ethnicity) AS ethnicity,
                   CASE WHEN bool_or(lower(disability) IN ('yes', 'y', 'true')) THEN 'yes'
                        WHEN bool_or(lower(disability) IN ('no', 'n', 'false')) THEN 'no' END AS disability
            FROM ({union}) GROUP BY 1
        ),
        dob AS (
            SELECT p.person_id, mode(CAST(i.dob AS DATE) ORDER BY CAST(i.dob AS DATE)) AS dob
            FROM link_persons p JOIN link_identities i
            USING (identity_id) WHERE i.dob IS NOT NULL GROUP BY 1
        ),
        m AS (
            SELECT k.as_of, k.household_id, p.*, date_diff('year', d.dob, k.as_of) AS age
            FROM _keys k JOIN {lk.members} h ON h.as_of = CAST(k.as_of AS DATE)
                AND h.household_id = k.household_id
              AND h.valid_from <= k.as_of AND (h.valid_to IS NULL OR h.valid_to > k.as_of)
            JOIN {lk.final} f ON f.as_of = h.as_of AND f.person_id = h.person_id
            LEFT JOIN person p ON p.person_id = f.final_id LEFT JOIN dob d ON d.person_id = f.final_id
        )
        SELECT as_of, household_id, coalesce(CASE {bands} END, 'unknown') AS age_band,
               coalesce(sex, 'unknown') AS sex, coalesce(ethnicity, 'unknown') AS ethnicity,
               coalesce(disability, 'unknown') AS disability
        FROM (SELECT as_of, household_id, max(age) AS age, mode(sex ORDER BY sex) AS sex,
                     mode(ethnicity ORDER BY ethnicity) AS ethnicity,
                     CASE WHEN bool_or(disability = 'yes') THEN 'yes' WHEN bool_or(disability = 'no')
                         THEN 'no' END
                         AS disability
              FROM m GROUP BY ALL)
    """).df()
    con.unregister("_keys")
    return out


def groups_for(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> pd.DataFrame:
    """Each row's (as_of, household_id) groups as the council records them, 'unknown' where no
    member's record says, and its household type."""
    recorded = recorded_groups(con, rows)
    groups = rows[["as_of", "household_id"]].merge(recorded, on=["as_of", "household_id"], how="left")
    groups = groups.fillna("unknown")
    groups["household_type"] = household_type(rows).to_numpy()
    return groups


def audit(
    groups: pd.DataFrame, y: np.ndarray, selected: np.ndarray, probability: np.ndarray
) -> tuple[pd.DataFrame, dict]:
    """The fairness table (one row per attribute and group) and each attribute's coverage."""
    from fairlearn.metrics import MetricFrame, count, selection_rate, true_positive_rate
    from sklearn.metrics import precision_score

    rows, coverage = [], {}
    for attr in ATTRIBUTES:
        g = groups[attr].astype(str).to_numpy()
        coverage[attr] = float(np.mean(g != "unknown"))
        mf = MetricFrame(
            metrics={
                "households": count,
                "selection_rate": selection_rate,
                "recall_at_capacity": true_positive_rate,
                "precision_at_capacity": lambda t, p: precision_score(t, p, zero_division=np.nan),
            },
            y_true=y,
            y_pred=selected.astype(int),
            sensitive_features=pd.Series(g, name=attr),
        )
        table = mf.by_group.reset_index().rename(columns={attr: "group"})
        pos = pd.Series(y).groupby(g).sum()
        exp = pd.Series(probability).groupby(g).sum()
        table["positives"] = table["group"].map(pos).astype(int)
        table["observed_over_expected"] = table["group"].map(pos / exp)
        judged = table[(table["group"] != "unknown") & (table["positives"] >= MIN_POSITIVES)]
        largest = judged.loc[judged["households"].idxmax()] if len(judged) else None
        for _, r in table.iterrows():
            ok = r["group"] != "unknown" and r["positives"] >= MIN_POSITIVES
            row = {"attribute": attr, **r.to_dict(), "judged": bool(ok)}
            for m in (
                "selection_rate",
                "recall_at_capacity",
                "precision_at_capacity",
                "observed_over_expected",
            ):
                row[f"{m}_ratio"] = (
                    float(r[m] / largest[m]) if ok and largest is not None and largest[m] else float("nan")
                )
            row["recall_ratio_low"], row["recall_ratio_high"] = _ratio_interval(
                r["recall_at_capacity"], r["positives"], largest, ok
            )
            row["note"] = "" if ok else ("not recorded" if r["group"] == "unknown" else "too small to judge")
            rows.append(row)
    return pd.DataFrame(rows), coverage


def _ratio_interval(
    recall: float, positives: int, largest: pd.Series | None, ok: bool
) -> tuple[float, float]:
    """An approximate 95% interval of a group's recall ratio (log scale, with half a hit added
    to each side so that a group with none selected still has one): a few dozen approaches make
    a ratio uncertain, and a gate should act on evidence, not on noise."""
    if not ok or largest is None or not largest["recall_at_capacity"]:
        return float("nan"), float("nan")

    def log_and_var(r: float, n: int) -> tuple[float, float]:
        hits = r * n + 0.5
        rate = hits / (n + 1)
        return float(np.log(rate)), float((1 - rate) / hits)

    a, va = log_and_var(float(recall), int(positives))
    b, vb = log_and_var(float(largest["recall_at_capacity"]), int(largest["positives"]))
    half = 1.96 * float(np.sqrt(va + vb))
    return float(np.exp(a - b - half)), float(np.exp(a - b + half))
