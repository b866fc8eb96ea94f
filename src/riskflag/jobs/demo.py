"""The demo: the synthetic council built (or reused), then every stage in the order a council
would run them, on a copy of the demo config pointed at the demo's folders.

The order and the stop conditions live here; what each step prints is the caller's (the CLI
passes a `Steps` of functions that run a stage and render it), so the demo and the commands a user
types run the same code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from riskflag.config import CouncilConfig, load_config
from riskflag.errors import UserError
from riskflag.ingest import RunResult

DEMO_MONTHS = 60
DEMO_START = "2021-11"


class DemoStop(UserError):
    exit_code = 1


@dataclass(frozen=True)
class DemoPlan:
    council: Path
    config: CouncilConfig
    reuse: bool


@dataclass(frozen=True)
class Steps:
    """What the demo calls at each stage: the CLI passes its commands' own functions, which run
    the stage and show what it did."""

    synthesise: Callable[[Path, int, int, int, str], object]
    reuse: Callable[[Path], object]
    configured: Callable[[Path, CouncilConfig], object]
    validate: Callable[[CouncilConfig, date], RunResult]
    link_train: Callable[[CouncilConfig, date], object]
    link_run: Callable[[CouncilConfig, date], object]
    evaluate_linkage: Callable[[CouncilConfig, Path], object]
    link_replay: Callable[[CouncilConfig, date], object]
    train: Callable[[CouncilConfig, date], object]
    promote: Callable[[CouncilConfig], bool]
    evaluate_model: Callable[[CouncilConfig, Path], object]
    nightly: Callable[[CouncilConfig, date], Any]


def last_delivery(manifest: Path) -> date:
    """The synthetic council's final day: the end of its last simulated month."""
    args = json.loads(manifest.read_text(encoding="utf-8"))["arguments"]
    year, month = map(int, args["start"].split("-"))
    month += args["months"]
    first_after = date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
    return date.fromordinal(first_after.toordinal() - 1)


def _same_demo(manifest: Path, households: int, seed: int) -> bool:
    args = json.loads(manifest.read_text(encoding="utf-8")).get("arguments", {})
    same = args.get("households") == households and args.get("seed") == seed
    return same and not args.get("advice_from_threats", False)


def plan(out_dir: Path, households: int, seed: int, config: Path) -> DemoPlan:
    council = out_dir / "council"
    manifest = council / "synth_manifest.json"
    reuse = manifest.is_file() and _same_demo(manifest, households, seed)
    cfg = load_config(config).with_folders(
        data_folder=(council / "extracts").resolve(), output_folder=(out_dir / "runs").resolve()
    )
    return DemoPlan(council, cfg, reuse)


def run(out_dir: Path, households: int, seed: int, config: Path, steps: Steps) -> Any:
    """Every stage end to end; returns the nightly run's result. A stopped validation or a model
    refused by the promotion gates ends the demo with one line: no champion, no list."""
    p = plan(out_dir, households, seed, config)
    if p.reuse:
        steps.reuse(p.council)
    else:
        steps.synthesise(p.council, households, DEMO_MONTHS, seed, DEMO_START)
    cfg, truth = p.config, p.council / "truth"
    steps.configured(config, cfg)
    as_of = last_delivery(p.council / "synth_manifest.json")
    if steps.validate(cfg, as_of).status == "stopped":
        raise DemoStop("the demo council's validation stopped (reasons above)")
    steps.link_train(cfg, as_of)
    steps.link_run(cfg, as_of)
    steps.evaluate_linkage(cfg, truth)
    steps.link_replay(cfg, as_of)
    steps.train(cfg, as_of)
    promoted = steps.promote(cfg)
    steps.evaluate_model(cfg, truth)
    if not promoted:
        raise UserError(
            "the demo's model did not pass the promotion gates (reasons above): no champion, no list"
        )
    return steps.nightly(cfg, as_of)
