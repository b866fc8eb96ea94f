"""The validate stage as the CLI and the nightly pipeline call it: one warehouse, one run,
its reports in the run's own folder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from riskflag.config import CouncilConfig
from riskflag.ingest.report import write_reports
from riskflag.ingest.validate import Progress, RunResult, validate
from riskflag.ingest.warehouse import open_warehouse


def validate_council(
    cfg: CouncilConfig,
    as_of: date,
    progress: Progress | None = None,
    now: Callable[[], datetime] = datetime.now,
) -> tuple[RunResult, dict[str, Path]]:
    run_id = f"{as_of.isoformat()}-validate-{now():%Y%m%dT%H%M%S%f}"
    with open_warehouse(cfg.warehouse) as con:
        run = validate(con, cfg, as_of, run_id, progress, now)
        paths = write_reports(con, run, cfg.output_folder / run_id)
    return run, paths
