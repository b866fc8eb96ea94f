"""Quality against the synthetic council's truth (synthetic councils only): the thresholds the
linkage is measured at, and where the figures are written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.ingest import open_warehouse
from riskflag.linkage import evaluate_linkage
from riskflag.modeling import evaluate_against_truth


def linkage_thresholds(cfg: CouncilConfig) -> tuple[float, ...]:
    """The linking threshold, the review floor and the usual high ones. Pairs are kept only above
    the lower of the review floor and the threshold, so nothing below it can be measured."""
    lk = cfg.linkage
    return tuple(sorted({lk.review_band[0], lk.cluster_at, 0.9, 0.95, 0.99}))


def linkage(cfg: CouncilConfig, truth: Path) -> tuple[dict[str, Any], Path]:
    with open_warehouse(cfg.warehouse) as con:
        res = evaluate_linkage(con, truth, linkage_thresholds(cfg))
    path = files.write_text(cfg.output_folder / "linkage_evaluation.json", json.dumps(res, indent=2))
    return res, path


def model(cfg: CouncilConfig, truth: Path, version: str | None = None) -> tuple[dict[str, Any], Path]:
    res = evaluate_against_truth(cfg, truth, version)
    path = cfg.output_folder / f"model_evaluation_v{res['version']}.json"
    files.write_text(path, json.dumps(res, indent=2, default=str))
    return res, path
