"""`riskflag evaluate model --truth DIR`: a registered model against the synthetic council's
oracle, the best any model could do (the true probability given everything the simulation knew,
hidden state included), and the fairness audit repeated with the truth's full demographics to
show what partial coverage of equality fields hides. Only this command reads the truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from riskflag.config import CouncilConfig
from riskflag.core import sql
from riskflag.errors import UserError
from riskflag.features import build
from riskflag.ingest import open_warehouse
from riskflag.modeling import fairness, registry
from riskflag.modeling import metrics as mt
from riskflag.modeling.evaluate import evaluate, select_at_capacity, select_top_share
from riskflag.modeling.train import rules_score


def _truth_tables(truth: Path) -> dict[str, Path]:
    need = {n: truth / f"{n}.parquet" for n in ("oracle", "persons", "residence")}
    for name, path in need.items():
        if not path.is_file():
            raise UserError(f"{truth}: not a synthetic council's truth folder (no {name}.parquet)")
    return need


def evaluate_against_truth(cfg: CouncilConfig, truth: Path, version: str | None = None) -> dict:
    files = _truth_tables(truth)
    version, run_id = registry.resolve(cfg, version)
    mlflow = registry.client(cfg)
    run = mlflow.get_run(run_id)
    dates = [date.fromisoformat(d) for d in run.data.params["evaluation_dates"].split(",")]
    horizon = int(run.data.params["horizon_days"])
    model = registry.load_version(cfg, version)
    with open_warehouse(cfg.warehouse) as con:
        frame = build(con, dates, horizon).frame(con, where="NOT censored")
        con.register("_rows", frame[["as_of", "household_id", "uprn"]])
        oracle = con.execute(f"""
            SELECT r.as_of, r.household_id, o.probability FROM _rows r
            LEFT JOIN read_parquet({sql.path(files["oracle"])}) o ON CAST(o.uprn AS VARCHAR) = r.uprn
              AND CAST(o.as_of_date AS DATE) = CAST(r.as_of AS DATE)
                  AND o.horizon_days = {sql.integer(horizon)}
        """).df()
        demographics = _true_groups(con, files)
        con.unregister("_rows")
    frame = frame.merge(oracle, on=["as_of", "household_id"], how="left")
    covered = frame["probability"].notna().to_numpy()
    frame = frame[covered].reset_index(drop=True)
    y = frame["label"].to_numpy().astype(float)
    scored = model.score(frame)
    raw, prob = scored["raw_score"].to_numpy(), scored["probability"].to_numpy()
    p_oracle = frame["probability"].to_numpy()
    out: dict = {"version": version, "run_id": run_id, "evaluation_dates": [str(d) for d in dates]}
    out["rows_with_oracle"] = f"{int(covered.sum()):,} of {len(covered):,}"
    floor = cfg.nightly.probability_floor
    out["model"] = evaluate(frame, raw, prob, cfg.teams, floor=floor)
    out["oracle"] = evaluate(frame, p_oracle, p_oracle, cfg.teams, floor=floor)
    rules = rules_score(frame)
    out["rules"] = {
        "auc": mt.auc(y, rules),
        "at_capacity_precision": float(y[select_at_capacity(frame, rules, cfg.teams)].mean()),
        "top_1pct_precision": float(y[select_top_share(frame, rules, 0.01)].mean()),
    }
    mine = select_at_capacity(frame, raw, cfg.teams, prob, floor)
    best = select_at_capacity(frame, p_oracle, cfg.teams, p_oracle, floor)
    out["oracle_expected_precision_at_capacity"] = float(
        p_oracle[mine].sum() / max(p_oracle[best].sum(), 1e-12)
    )
    top, best_top = select_top_share(frame, raw, 0.01), select_top_share(frame, p_oracle, 0.01)
    out["oracle_expected_precision_top_1pct"] = float(
        p_oracle[top].sum() / max(p_oracle[best_top].sum(), 1e-12)
    )
    out["auc_gap_to_oracle"] = out["oracle"]["auc"]["value"] - out["model"]["auc"]["value"]
    groups = frame[["as_of", "household_id"]].merge(demographics, on=["as_of", "household_id"], how="left")
    groups = groups.fillna("unknown")
    groups["household_type"] = fairness.household_type(frame).to_numpy()
    table, coverage = fairness.audit(groups, y, mine, prob)
    out["fairness_with_truth"] = {
        "coverage": coverage,
        "table": registry.suppress_small(table).to_dict("records"),
    }
    with open_warehouse(cfg.warehouse) as con:
        rec = fairness.groups_for(con, frame)
    rtable, rcoverage = fairness.audit(rec, y, mine, prob)
    out["fairness_recorded"] = {
        "coverage": rcoverage,
        "table": registry.suppress_small(rtable).to_dict("records"),
    }
    return out


def _true_groups(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> pd.DataFrame:
    """Each household's groups from the simulation's people at its UPRN on the date: eldest
    member's age band, and the commonest sex, ethnicity and disability among them."""
    bands = " ".join(
        f"WHEN age >= {sql.integer(lo)} AND age < {sql.integer(hi)} THEN {sql.string(name)}"
        for lo, hi, name in fairness.AGE_BANDS
    )
    return con.execute(f"""
        WITH res AS (
            SELECT person_id, CAST(uprn AS VARCHAR) AS uprn, CAST(from_date AS DATE) AS start,
                   CAST(from_date AS DATE) + to_months(CAST(to_month - from_month AS INTEGER)) AS stop
            FROM read_parquet({sql.path(files["residence"])})
        ),
        m AS (
            SELECT r.as_of, r.household_id, p.sex, p.ethnicity, CASE WHEN p.disabled THEN 'yes'
                ELSE 'no' END AS dis,
                   date_diff('year', CAST(p.date_of_birth AS DATE), r.as_of) AS age
            FROM _rows r JOIN res ON res.uprn = r.uprn AND res.start <= r.as_of AND r.as_of < res.stop
            JOIN read_parquet({sql.path(files["persons"])}) p ON p.person_id = res.person_id
        )
        SELECT as_of, household_id, coalesce(CASE {bands} END, 'unknown') AS age_band, sex, ethnicity,
               disability
        FROM (SELECT as_of, household_id, max(age) AS age, mode(sex ORDER BY sex) AS sex,
                     mode(ethnicity ORDER BY ethnicity) AS ethnicity,
                     CASE WHEN bool_or(dis = 'yes') THEN 'yes' ELSE 'no' END
                         AS disability FROM m GROUP BY ALL)
    """).df()
