"""The training job, as `riskflag train` and the demo run it: train, audit fairness, draw the
plots, write the model card, log and register in MLflow, and leave a report folder beside the
council's other outputs. Each step is modeling's; this module only puts them in order."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.ingest import open_warehouse
from riskflag.modeling import (
    Logged,
    Trained,
    card,
    fairness,
    plots,
    registry,
    select_at_capacity,
    sigmoid,
    train,
)

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class TrainingRun:
    trained: Trained
    logged: Logged
    fairness_coverage: dict[str, float]
    report: Path


def train_and_register(cfg: CouncilConfig, as_of: date, say: Say = _quiet) -> TrainingRun:
    """Train on what the warehouse knew by as_of and register the model as the challenger; the
    report folder is named after the registered version."""
    trained = train(cfg, as_of, say)
    say("fairness audit on the evaluation period")
    table, coverage = _fairness(cfg, trained)
    with tempfile.TemporaryDirectory() as tmp:
        say("plots, model card, MLflow")
        pngs = _plots(cfg, trained, Path(tmp))
        text = card.render(cfg, as_of, trained, table, coverage)
        logged = registry.log_training(cfg, trained, as_of, table, coverage, text, pngs)
    report = _report(cfg, as_of, trained, logged, table, coverage)
    return TrainingRun(trained, logged, coverage, report)


def _evaluation_rows(trained: Trained) -> tuple[pd.DataFrame, np.ndarray]:
    ev = trained.frame["period"].to_numpy() == "evaluation"
    return trained.frame[ev].reset_index(drop=True), ev


def _fairness(cfg: CouncilConfig, trained: Trained) -> tuple[pd.DataFrame, dict[str, float]]:
    """Recall at capacity and calibration by each group the council records, on the evaluation
    period's selection."""
    rows, ev = _evaluation_rows(trained)
    s = trained.scores["model"]
    with open_warehouse(cfg.warehouse) as con:
        groups = fairness.groups_for(con, rows)
    chosen = select_at_capacity(rows, s.raw[ev], cfg.teams, s.probability[ev], cfg.nightly.probability_floor)
    return fairness.audit(groups, rows["label"].to_numpy(), chosen, s.probability[ev])


def _plots(cfg: CouncilConfig, trained: Trained, folder: Path) -> list[Path]:
    rows, ev = _evaluation_rows(trained)
    s = trained.scores["model"]
    return plots.write_all(
        folder,
        rows["label"].to_numpy().astype(float),
        {k: v.raw[ev] for k, v in trained.scores.items()},
        s.probability[ev],
        sigmoid(s.raw[ev]),
        trained.importance,
        sum(t.capacity for t in cfg.teams) * len(trained.periods.evaluation),
    )


def _report(
    cfg: CouncilConfig,
    as_of: date,
    trained: Trained,
    logged: Logged,
    table: pd.DataFrame,
    coverage: dict[str, float],
) -> Path:
    """output_folder/<as_of>-train-v<version>: the evaluation, the model card and the fairness
    table, aggregates only (small cells suppressed), written whole or not at all."""
    evaluation = {
        "run_id": logged.run_id,
        "model_uri": logged.model_uri,
        "periods": {k: [str(d) for d in v] for k, v in trained.periods.__dict__.items()},
        "counts": trained.counts,
        "evaluation": registry.aggregates(trained.evaluation),
        "calibration": trained.calibration_choice,
        "fairness_coverage": coverage,
    }

    def write(folder: Path) -> None:
        (folder / "evaluation.json").write_text(
            json.dumps(evaluation, indent=2, default=float), encoding="utf-8"
        )
        (folder / "model_card.md").write_text(
            card.render(cfg, as_of, trained, table, coverage, logged.version), encoding="utf-8"
        )
        registry.suppress_small(table).to_csv(folder / "fairness.csv", index=False)

    return files.folder(cfg.output_folder, f"{as_of.isoformat()}-train-v{logged.version}", write)
