"""The training job as `riskflag train` and the training pipeline run it: train, audit fairness,
draw the plots, write the model card, log and register in MLflow."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from riskflag.config import CouncilConfig
from riskflag.ingest.warehouse import open_warehouse
from riskflag.modeling import card, fairness, plots, registry
from riskflag.modeling.evaluate import select_at_capacity
from riskflag.modeling.model import sigmoid
from riskflag.modeling.train import Trained, train

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class TrainingRun:
    trained: Trained
    logged: registry.Logged
    fairness_coverage: dict[str, float]
    report: Path


def train_and_register(cfg: CouncilConfig, as_of: date, say: Say = _quiet) -> TrainingRun:
    trained = train(cfg, as_of, say)
    frame, ev = trained.frame, trained.frame["period"].to_numpy() == "evaluation"
    rows = frame[ev].reset_index(drop=True)
    s = trained.scores["model"]
    say("fairness audit on the evaluation period")
    with open_warehouse(cfg.warehouse) as con:
        groups = fairness.groups_for(con, rows)
    chosen = select_at_capacity(rows, s.raw[ev], cfg.teams)
    table, coverage = fairness.audit(groups, rows["label"].to_numpy(), chosen, s.probability[ev])
    with tempfile.TemporaryDirectory() as tmp:
        say("plots, model card, MLflow")
        y = rows["label"].to_numpy().astype(float)
        pngs = plots.write_all(
            Path(tmp),
            y,
            {k: v.raw[ev] for k, v in trained.scores.items()},
            s.probability[ev],
            sigmoid(s.raw[ev]),
            trained.importance,
            sum(t.capacity for t in cfg.teams) * len(trained.periods.evaluation),
        )
        text = card.render(cfg, as_of, trained, table, coverage)
        logged = registry.log_training(cfg, trained, as_of, table, coverage, text, pngs)
    report = cfg.output_folder / f"{as_of.isoformat()}-train-v{logged.version}"
    report.mkdir(parents=True, exist_ok=True)
    (report / "evaluation.json").write_text(
        json.dumps(
            {
                "run_id": logged.run_id,
                "model_uri": logged.model_uri,
                "periods": {k: [str(d) for d in v] for k, v in trained.periods.__dict__.items()},
                "counts": trained.counts,
                "evaluation": registry._aggregates(trained.evaluation),
                "calibration": trained.calibration_choice,
                "fairness_coverage": coverage,
            },
            indent=2,
            default=float,
        ),
        encoding="utf-8",
    )
    (report / "model_card.md").write_text(card.render(cfg, as_of, trained, table, coverage, logged.version))
    registry.suppress_small(table).to_csv(report / "fairness.csv", index=False)
    return TrainingRun(trained, logged, coverage, report)
