"""The model card: what the model is for, what it learnt from, how well it does and for whom it
does worse, written from the training job's own figures (docs/model-card-template.md is the
template a council reads)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from riskflag.config import CouncilConfig

if TYPE_CHECKING:
    from riskflag.modeling.train import Trained


def _ci(e: dict) -> str:
    return f"{e['value']:.3f} ({e['low']:.3f} to {e['high']:.3f})"


def _performance(cfg: CouncilConfig, trained: Trained) -> str:
    """The table of each score's figures on the evaluation period."""
    ev = trained.evaluation
    capacity = sum(t.capacity for t in cfg.teams)
    rows = [
        "| score | AUC | average precision | Brier | observed/expected | calibration slope | "
        f"precision at capacity ({capacity}/date) | precision, top 1% | precision, top 5% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in (
        ("model", ev["model"]),
        ("rules baseline", ev["rules"]),
        ("logistic baseline", ev["logistic"]),
    ):
        rows.append(
            f"| {name} | {_ci(e['auc'])} | {e['average_precision']:.3f} | {_ci(e['brier'])} | "
            f"{_ci(e['observed_over_expected'])} | {_ci(e['calibration_slope'])} | "
            f"{e['at_capacity']['precision']:.3f} | {e['top_1pct']['precision']:.3f} | "
            f"{e['top_5pct']['precision']:.3f} |"
        )
    return "\n".join(rows)


def _fairness(fairness: pd.DataFrame) -> str:
    """The three groups, among those large enough to judge, with the lowest recall ratios."""
    judged = fairness[fairness["judged"]]
    worst = judged.sort_values("recall_at_capacity_ratio").head(3)
    lines = [
        f"- {w['attribute']} = {w['group']}: recall at capacity {w['recall_at_capacity']:.3f}, "
        f"{w['recall_at_capacity_ratio']:.2f} times the largest group's"
        for _, w in worst.iterrows()
    ] or ["- no group was large enough to judge"]
    return "\n".join(lines)


def _linkage(trained: Trained) -> str:
    """Which linkage the households came from: as it stood at each date, or today's."""
    linked = sum(c.get("linked_point_in_time", 0) for c in trained.counts.values())
    dates = sum(c.get("as_of_dates", 0) for c in trained.counts.values())
    if linked == dates:
        return "the linkage as it stood at each date (no later record regroups a household)"
    return (
        f"the linkage as it stood at {linked} of the {dates} dates; at the others, today's "
        "linkage, which knows later records (the history had not been replayed)"
    )


def render(
    cfg: CouncilConfig,
    as_of: date,
    trained: Trained,
    fairness: pd.DataFrame,
    coverage: dict[str, float],
    version: str = "(registered on logging)",
) -> str:
    p, m = trained.periods, trained.evaluation["model"]
    cover = ", ".join(f"{k} {v:.0%}" for k, v in coverage.items())
    top = ", ".join(trained.importance["feature"].head(8))
    too_small = fairness[(~fairness["judged"]) & (fairness["group"] != "unknown")]
    return f"""# Model card: {cfg.registered_name} (version {version})

**Intended use.** Rank the households of {cfg.council.name} by their risk of a homelessness
approach (a case opened with a prevention or relief duty for anyone in the household) within
{cfg.horizon_days} days, so that prevention officers can offer help months earlier. The list is
a prompt for a conversation, never a decision about a person: no service is withdrawn, no
eligibility changed. Each flagged household is shown with its reasons and evidence.

**Not for.** Decisions about eligibility, enforcement or priority for housing; any use outside
homelessness prevention; households outside the council-tax base.

**Data.** The council's own records as known at each as-of date (council tax, rent, benefits,
homelessness cases, children's and adult services, anti-social behaviour, schools, deaths),
linked to households by {_linkage(trained)}. As-of dates: training
{p.train[0]} to {p.train[-1]} ({len(p.train)} month ends), validation {", ".join(map(str, p.validation))},
calibration {", ".join(map(str, p.calibration))}, evaluation {", ".join(map(str, p.evaluation))}; each
period's outcomes end before the next period begins. Equality fields (sex, ethnicity,
disability, age) are never features; dates of birth only count the children in a household.
Households with an upheld objection are left out of training and scoring.

**Model.** LightGBM ({trained.best_iteration} trees, depth at most {cfg.model.max_depth}, early stopping on
validation), calibrated by {trained.calibration_choice["method"]} regression fitted on the calibration
period around the frozen model (chosen over the alternative on validation log loss). Ranking uses
the raw score. It leans most on: {top}.

**Performance** on the evaluation period ({m["rows"]:,} household-dates, {m["positives"]:,} approaches,
base rate {m["base_rate"]:.2%}); 95% intervals from a bootstrap over households:

{_performance(cfg, trained)}

**Fairness** (evaluation period, selection at capacity). Coverage of the equality fields the
council holds: {cover}. Lowest recall ratios among groups large enough to judge (at least 30
approaches):

{_fairness(fairness)}

Groups too small to judge: {len(too_small)} (listed in fairness.csv, not hidden). Households whose
equality fields are not recorded are a group of their own ("unknown"); what partial coverage
hides is measured on the synthetic council by `riskflag evaluate model --truth`.

**Limitations.** Some of what drives homelessness is in no council system (a private landlord's
notice, informal debt, a relationship ending): the model cannot see it. Households that move
often or whose records do not link are harder to score. The model learns from past approaches,
so it reflects who has approached before, not everyone in need. Probabilities are calibrated on
a recent period and drift as services change: the nightly run checks drift.

Trained {as_of.isoformat()} on configuration {cfg.path.name}.
"""
