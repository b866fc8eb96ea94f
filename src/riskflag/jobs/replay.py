"""The linkage replay: the history linked as the council knew it at each month end that training
uses, then at the as-of date. It needs the model's training calendar, so it composes linkage with
modeling and lives here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from riskflag.config import CouncilConfig
from riskflag.linkage import replay_council
from riskflag.modeling import training_dates


def replay_dates(cfg: CouncilConfig, as_of: date) -> list[date]:
    """Every training date before as_of, then as_of itself."""
    return sorted({d for d in training_dates(cfg, as_of) if d < as_of} | {as_of})


def replay(
    cfg: CouncilConfig,
    as_of: date,
    model: Path | None = None,
    progress: Callable[[date], None] = lambda _: None,
) -> dict[str, Any]:
    """Link at each of `replay_dates`; `progress(day)` is called as each date starts."""
    return replay_council(cfg, replay_dates(cfg, as_of), model, progress=progress)
