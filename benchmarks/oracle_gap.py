"""Where the model's distance from the oracle comes from (docs/model.md, "Why the model is far
from the oracle"). Two measurements, untimed:

    python benchmarks/oracle_gap.py features DEMO_DIR   # after `make demo DEMO_DIR=...`
    python benchmarks/oracle_gap.py state [--households N] [--seed S]

`features` fits LightGBM to the oracle's own probability (a target without label noise) from
riskflag's features on the training dates, and scores the evaluation dates: what these
features could reach if the learner were perfect. `state` fits the oracle from each
household's true hidden state, with every variable and with some left out: what a council
would reach if its records showed those variables exactly. Both read the truth folder, which
is why they are here and not in riskflag.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

HORIZON = 182
EVALUATION = [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


def _regressor() -> lgb.LGBMRegressor:
    return lgb.LGBMRegressor(
        n_estimators=400, learning_rate=0.03, num_leaves=31, min_child_samples=100, verbose=-1
    )


def features(demo: Path) -> dict[str, float]:
    from riskflag import features as fb
    from riskflag.ingest.warehouse import open_warehouse

    oracle = pd.read_parquet(demo / "council" / "truth" / "oracle.parquet")
    oracle = oracle[oracle["horizon_days"] == HORIZON]
    training = [d.date() for d in pd.date_range("2023-06-30", "2025-04-30", freq="ME")]
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        shutil.copy(demo / "runs" / "warehouse.duckdb", warehouse)
        with open_warehouse(warehouse, memory_limit="8GB") as con:
            f = fb.build(con, training + EVALUATION, horizon_days=HORIZON).frame(con)
    f["as_of_date"] = pd.to_datetime(f["as_of"])
    f["uprn"] = f["uprn"].astype("int64")
    x = f.merge(oracle[["as_of_date", "uprn", "probability"]], on=["as_of_date", "uprn"])
    x = x[x["label"].notna() & ~x["censored"].astype(bool)]
    ev = x["as_of_date"].isin(pd.to_datetime(EVALUATION))
    cols = list(fb.FEATURES)
    fit = _regressor().fit(x.loc[~ev, cols], x.loc[~ev, "probability"])
    s, y, p = fit.predict(x.loc[ev, cols]), x.loc[ev, "label"].astype(int), x.loc[ev, "probability"]
    return {
        "features_fitted_to_oracle_auc": roc_auc_score(y, s),
        "oracle_auc": roc_auc_score(y, p),
        "r2_against_oracle": 1 - float(((p - s) ** 2).sum() / ((p - p.mean()) ** 2).sum()),
        "evaluation_households": int(ev.sum()),
    }


def state(households: int, seed: int) -> dict[str, float]:
    from riskflag.synth import chain as ch
    from riskflag.synth import oracle
    from riskflag.synth.simulate import World

    w = World(households, 60, seed, "2021-11")
    w.run()
    probabilities, labels = oracle.compute(w)
    uprn = w.gaz.props["uprn"].to_numpy()
    rows = []
    for m in sorted(w.snapshots):
        snap = w.snapshots[m]
        homes = oracle.cohort(snap, w.is_ta)
        act = snap["status"] == oracle.ACTIVE
        keep = np.isin(snap["prop"][act], homes)
        fam = pd.DataFrame({k: v[keep] for k, v in ch.decode(snap["state"][act]).items()})
        fam["prop"] = snap["prop"][act][keep]
        counts = pd.get_dummies(fam.astype({v: "category" for v in ch.VARS}), columns=list(ch.VARS))
        d = counts.groupby("prop").sum()
        d["families"] = fam.groupby("prop").size()
        d["as_of_month"], d["uprn"] = m, uprn[d.index]
        rows.append(d.reset_index(drop=True))
    x = pd.concat(rows, ignore_index=True).fillna(0)
    key = ["as_of_month", "uprn"]
    p = probabilities[probabilities["horizon_days"] == HORIZON][[*key, "probability"]]
    y = labels[labels["horizon_days"] == HORIZON][[*key, "label", "censored", "observed"]]
    x = x.merge(p, on=key).merge(y, on=key)
    x = x[x["observed"] & ~x["censored"]]
    months = sorted(x["as_of_month"].unique())
    test = x[x["as_of_month"].isin(months[-3:])]
    train = x[x["as_of_month"] < months[-3] - 6]  # a full horizon apart: no label overlap
    cols = [c for c in x.columns if c.split("_")[0] in ch.VARS]

    def auc(left_out: set[str]) -> float:
        use = [c for c in cols if c.split("_")[0] not in left_out] + ["families"]
        fit = _regressor().fit(train[use], train["probability"])
        return roc_auc_score(test["label"], fit.predict(test[use]))

    out = {"oracle_auc": roc_auc_score(test["label"], test["probability"]), "every_variable": auc(set())}
    for left_out in ("U", "L", "R", "P", "E", "UL", "ULER"):
        out[f"without_{left_out}"] = auc(set(left_out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("features")
    f.add_argument("demo", type=Path)
    s = sub.add_parser("state")
    s.add_argument("--households", type=int, default=20_000)
    s.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    result = features(args.demo) if args.what == "features" else state(args.households, args.seed)
    for k, v in result.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
