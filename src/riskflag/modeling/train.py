"""`riskflag train`: features and labels at monthly as-of dates, a LightGBM model with early
stopping on a later validation period, a calibrator fitted on a period later still, and an
evaluation on the latest dates whose horizon has passed, beside two baselines (the rules a
council uses without a model, and a logistic regression on the same features).

Never reads the synthetic council's truth: everything here comes from the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from riskflag import features as fb
from riskflag.config import CouncilConfig
from riskflag.core import sql
from riskflag.errors import UserError
from riskflag.features import Periods, add_months, plan_periods
from riskflag.ingest import open_warehouse, table_exists
from riskflag.modeling import drift
from riskflag.modeling import metrics as mt
from riskflag.modeling.evaluate import evaluate
from riskflag.modeling.model import Calibration, RiskModel, sigmoid

Say = Callable[[str], None]

# A household-date's place in the negative sample, uniform on [0, 1): from its property, the date
# and the seed, never from its household id, which a relink of the same records can rename.
SAMPLED = (
    "md5_number_lower(uprn || '|' || strftime(as_of, '%Y-%m-%d') || '|' || $seed) / 18446744073709551616.0"
)


def _quiet(_: str) -> None:
    return None


@dataclass
class Scores:
    raw: np.ndarray  # for ranking
    probability: np.ndarray  # calibrated


@dataclass
class Trained:
    model: RiskModel
    periods: Periods
    frame: pd.DataFrame  # every labelled household-date, with its period (no identifiers but ids)
    scores: dict[str, Scores]  # model, rules, logistic: over frame's rows
    evaluation: dict[str, dict]  # per score, on the evaluation period
    calibration_choice: dict[str, float]
    best_iteration: int
    params: dict[str, Any]
    importance: pd.DataFrame
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def first_as_of(con: Any) -> date:
    """The first month end with a year of council-tax history before it."""
    first = (
        con.execute("SELECT min(balance_date) FROM history_council_tax").fetchall()[0][0]
        if table_exists(con, "history_council_tax")
        else None
    )
    if first is None:
        raise UserError("the warehouse has no council-tax history: run `riskflag validate` first")
    return add_months(first, 12)


def training_dates(cfg: CouncilConfig, as_of: date) -> list[date]:
    """The month ends `riskflag train` at as_of will build features at (what a replay links at)."""
    with open_warehouse(cfg.warehouse) as con:
        first = first_as_of(con)
    m = cfg.model
    return plan_periods(as_of, cfg.horizon_days, first, max_dates=m.max_as_of_dates).all()


def labelled_frame(
    cfg: CouncilConfig, as_of: date, say: Say = _quiet
) -> tuple[pd.DataFrame, Periods, set[date]]:
    """Features and labels at every as-of date the periods need, with each row's period and
    training weight: censored rows are left out, and so are households with an upheld objection
    today (at every date: an objection takes effect in training too). Training keeps every
    approach and a reproducible share of the other household-dates, weighted up so that the data
    still says how common approaches are; a large council's history does not fit in memory whole.
    The share and the rows' order (date, then property) rest on what a relink cannot change, so
    the same warehouse, config and seed give the same model file byte for byte. Also the dates
    whose households come from the linkage as it stood then: at any other date they come from
    today's linkage, which knows later records (`riskflag link replay` fills them in)."""
    m = cfg.model
    with open_warehouse(cfg.warehouse, memory_limit="4GB") as con:
        periods = plan_periods(as_of, cfg.horizon_days, first_as_of(con), max_dates=m.max_as_of_dates)
        say(f"features and labels at {len(periods.all())} month ends")
        fs = fb.build(con, periods.all(), cfg.horizon_days)
        linked = fs.linkage.point_in_time(con)
        if len(linked) < len(periods.all()):
            say(
                f"warning: {len(periods.all()) - len(linked)} of {len(periods.all())} month ends are before "
                "the linkage history begins, so their households come from today's linkage, which knows "
                "later records; run `riskflag link replay` to link the history as it stood"
            )
        objecting = fb.objecting_households(con, fs, as_of)
        period = " ".join(f"WHEN {sql.day(d)} THEN {sql.string(periods.of(d))}" for d in periods.all())
        cols = ", ".join(f"CAST({f} AS FLOAT) AS {f}" for f in fb.FEATURES)
        frame = con.execute(
            f"""
            SELECT as_of, household_id, ward, {cols}, label, period,
                   CASE WHEN period = 'train' AND label = 0 THEN $weight ELSE 1.0 END AS weight
            FROM (SELECT *, CASE as_of {period} END AS period FROM {fs.table})
            ANTI JOIN ({objecting}) o USING (as_of, household_id)
            WHERE NOT censored AND (period <> 'train' OR label = 1 OR {SAMPLED} < $fraction)
            ORDER BY as_of, uprn, household_id
            """,
            {"weight": 1 / m.negative_fraction, "fraction": m.negative_fraction, "seed": str(m.seed)},
        ).df()
        con.execute(f"DROP TABLE {fs.table}")
    return frame, periods, linked


def rules_score(frame: pd.DataFrame) -> np.ndarray:
    """The rules a council uses without a model: rent arrears of at least 8 weeks, council tax
    at summons or later, a Notice of Seeking Possession (a Section 21 notice is never recorded);
    households ranked by rules met, then by arrears."""
    met = (
        (frame["rent_arrears_weeks"] >= 8).astype(int)
        + (frame["ct_stage"] >= fb.STAGES.index("summons")).astype(int)
        + (frame["nosp_12m"] > 0).astype(int)
    )
    arrears = frame["ct_arrears"].clip(lower=0) + frame["rent_arrears"].clip(lower=0)
    return (met + np.minimum(arrears, 99_999) / 100_000).to_numpy(dtype=float)


def _choose_calibration(
    estimator: Any, cal: pd.DataFrame, valid: pd.DataFrame, x: Callable
) -> tuple[Any, dict]:
    """Isotonic or Platt, each fitted on the calibration period around the frozen estimator,
    whichever has the lower log loss on the validation period."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    losses: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    for method in ("isotonic", "sigmoid"):
        c = CalibratedClassifierCV(FrozenEstimator(estimator), method=method)
        c.fit(x(cal), cal["label"].to_numpy())
        fitted[method] = c
        losses[method] = mt.log_loss(valid["label"].to_numpy(), c.predict_proba(x(valid))[:, 1])
    best = min(losses, key=lambda k: losses[k])
    return fitted[best], {"method": best, **{f"validation_log_loss_{k}": v for k, v in losses.items()}}


class _RulesEstimator(ClassifierMixin, BaseEstimator):
    """The rules score as an sklearn classifier, so that it is calibrated like the others."""

    def fit(self, x: Any, y: Any) -> _RulesEstimator:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = rules_score(x) / 4  # at most 3 rules and a fraction: a monotone map into [0, 1)
        return np.c_[1 - p, p]

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.25).astype(int)


PERIODS = ("train", "validation", "calibration", "evaluation")


def train(cfg: CouncilConfig, as_of: date, say: Say = _quiet) -> Trained:
    """Everything up to the evaluation; registering in MLflow is registry.py's."""
    frame, periods, linked = labelled_frame(cfg, as_of, say)
    features = list(fb.FEATURES)
    part = _parts(frame, periods)
    counts = {
        n: {
            "rows": len(r),
            "positives": int(r["label"].sum()),
            "as_of_dates": r["as_of"].nunique(),
            "linked_point_in_time": int(sum(d in linked for d in set(r["as_of"].dt.date))),
        }
        for n, r in part.items()
    }
    tr = part["train"]
    say(f"LightGBM on {len(tr):,} household-dates ({int(tr['label'].sum()):,} approaches)")
    params = _lgbm_params(cfg)
    clf, best = _fit_booster(cfg, params, part, features)
    say(f"calibrating on {len(part['calibration']):,} household-dates, choosing on validation")
    calibrated, choice = _choose_calibration(
        clf, part["calibration"], part["validation"], lambda d: d[features]
    )
    model = RiskModel(clf.booster_, Calibration.from_sklearn(calibrated), features, best)
    say("baselines: the council's rules and a logistic regression")
    scored = model.score(frame)
    ev_rows = frame["period"].to_numpy() == "evaluation"
    model.reference = drift.reference(
        frame.loc[ev_rows, features], features, scored["raw_score"].to_numpy()[ev_rows]
    )
    scores = {
        "model": Scores(scored["raw_score"].to_numpy(), scored["probability"].to_numpy()),
        **_baselines(frame, part, features),
    }
    say("evaluating on the latest dates whose horizon has passed")
    evaluation = _evaluate(cfg, frame, scores)
    importance = pd.DataFrame(
        {"feature": features, "gain": clf.booster_.feature_importance("gain", iteration=best)}
    ).sort_values("gain", ascending=False)
    return Trained(model, periods, frame, scores, evaluation, choice, best, params, importance, counts)


def _parts(frame: pd.DataFrame, periods: Periods) -> dict[str, pd.DataFrame]:
    """The frame's rows by period; each must hold enough approaches to train on or judge by."""
    part = {p: frame[frame["period"] == p] for p in PERIODS}
    if periods.validation == periods.calibration:
        part["validation"] = part["calibration"]
    for name, rows in part.items():
        if rows["label"].sum() < 10:
            raise UserError(
                f"the {name} period ({len(rows):,} household-dates) holds fewer than 10 approaches: too few "
                "to train or judge a model; is the history long enough for the horizon?"
            )
    return part


def _lgbm_params(cfg: CouncilConfig) -> dict[str, Any]:
    """LightGBM's parameters. The same rows in the same order give the same trees, byte for byte:
    a fixed seed and thread count, deterministic histograms, row-wise histogram building."""
    m = cfg.model
    return {
        "objective": "binary",
        "learning_rate": m.learning_rate,
        "num_leaves": m.num_leaves,
        "max_depth": m.max_depth,
        "min_child_samples": m.min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "n_estimators": m.max_rounds,
        "random_state": m.seed,
        "n_jobs": 2,
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
    }


def _fit_booster(
    cfg: CouncilConfig, params: dict[str, Any], part: dict[str, pd.DataFrame], features: list[str]
) -> tuple[Any, int]:
    """The booster, stopped early on the validation period, and its best iteration."""
    import lightgbm as lgb

    tr, valid = part["train"], part["validation"]
    clf = lgb.LGBMClassifier(**params)
    clf.fit(
        tr[features],
        tr["label"],
        sample_weight=tr["weight"].to_numpy(),
        eval_set=[(valid[features], valid["label"])],
        eval_metric="binary_logloss",
        callbacks=[lgb.early_stopping(cfg.model.early_stopping_rounds, verbose=False)],
    )
    return clf, int(clf.best_iteration_ or cfg.model.max_rounds)


def _baselines(frame: pd.DataFrame, part: dict[str, pd.DataFrame], features: list[str]) -> dict[str, Scores]:
    """The council's rules and a logistic regression on the same features, each calibrated as
    the model is, scored over the whole frame."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    tr = part["train"]
    logistic = make_pipeline(
        FunctionTransformer(lambda a: np.sign(a) * np.log1p(np.abs(a))),
        StandardScaler(),
        LogisticRegression(max_iter=2000, C=1.0),
    )
    logistic.fit(tr[features], tr["label"], logisticregression__sample_weight=tr["weight"].to_numpy())
    logistic_cal, _ = _choose_calibration(
        logistic, part["calibration"], part["validation"], lambda d: d[features]
    )
    rules_cal, _ = _choose_calibration(
        _RulesEstimator().fit(None, None), part["calibration"], part["validation"], lambda d: d
    )
    return {
        "rules": Scores(rules_score(frame), rules_cal.predict_proba(frame)[:, 1]),
        "logistic": Scores(
            logistic.decision_function(frame[features]), logistic_cal.predict_proba(frame[features])[:, 1]
        ),
    }


def _evaluate(cfg: CouncilConfig, frame: pd.DataFrame, scores: dict[str, Scores]) -> dict[str, dict]:
    """Each score's figures on the evaluation period, and the model's before calibration."""
    ev = frame["period"].to_numpy() == "evaluation"
    evaluation = {
        name: evaluate(
            frame[ev].reset_index(drop=True),
            s.raw[ev],
            s.probability[ev],
            cfg.teams,
            floor=cfg.nightly.probability_floor,
        )
        for name, s in scores.items()
    }
    evaluation["model"]["uncalibrated"] = {
        "observed_over_expected": mt.observed_over_expected(
            frame.loc[ev, "label"].to_numpy(), sigmoid(scores["model"].raw[ev])
        ),
        "reliability": mt.reliability(
            frame.loc[ev, "label"].to_numpy().astype(float), sigmoid(scores["model"].raw[ev])
        ),
    }
    return evaluation
