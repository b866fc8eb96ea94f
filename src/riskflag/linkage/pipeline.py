"""The link stage as the CLI and the pipelines call it: train the person model, link, replay.

Reads what the warehouse knew at the as-of date, writes these tables back into it:

- `link_addresses`: every distinct (address, postcode) with its UPRN or why it has none;
- `link_mentions`: every person named by a source record -> its identity;
- `link_identities`: distinct spellings of a person at a place (the unit Splink compares);
- `link_pairs`: the scored candidate pairs above the review band's floor;
- `link_persons`: identity -> person id (stable between runs, see ids.py);
- `link_person_xref`: source record and slot -> person id, with the strongest link weight;
- `link_residence`: person -> UPRN with validity dates;
- `link_households`, `link_household_members`: households (the people living at one UPRN at a
  date) with their validity dates, and who belonged to each, when;
- `link_id_changes`, `link_household_changes`: person and household ids merged or split.

Each run also writes a folder with the diagnostics (JSON), the uncertain pairs for clerical
review (CSV) and a manifest. Names stay in the warehouse and the review file, which are as
protected as the extracts; the diagnostics hold counts only.

The steps, in the order a run takes them: run.py (full or incremental), collect.py (mentions),
pairs.py (scoring), clustering.py (people), residence.py, households.py, history.py, outputs.py.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.errors import UserError
from riskflag.ingest import open_warehouse
from riskflag.linkage import history, people
from riskflag.linkage.clustering import assign_persons, cluster, record_overrides
from riskflag.linkage.collect import build_mentions
from riskflag.linkage.households import build_households
from riskflag.linkage.outputs import LinkSummary, summarise, write_manifest, write_outputs
from riskflag.linkage.overrides import read_overrides
from riskflag.linkage.pairs import FEATURES, Scoring, describe, score_all, score_changes
from riskflag.linkage.residence import build_residence
from riskflag.linkage.run import (
    RunMode,
    RunRecord,
    choose_mode,
    fingerprint,
    newest_delivery,
    record_run,
    transaction,
)

Say = Callable[[str], None]

__all__ = ["LinkSummary", "TrainResult", "latest_model", "link_council", "replay_council", "train_council"]


def _quiet(_: str) -> None:
    return None


@dataclass
class TrainResult:
    model: Path
    report: dict[str, Any]


def train_council(
    cfg: CouncilConfig, as_of: date, now: Callable[[], datetime] = datetime.now, say: Say = _quiet
) -> TrainResult:
    """Train the person model on what was known at as_of; write model.json and
    training_report.json into a new version folder, which appears whole. Names never leave the
    warehouse: the model holds m and u probabilities, and term frequencies are computed again at
    each run."""
    with open_warehouse(cfg.warehouse) as con:
        say("collecting the people every source names")
        counts = build_mentions(con, cfg, as_of)
        identities = con.execute(FEATURES).df()
    say(f"training on {counts['identities']:,} identities")
    version = f"{as_of.isoformat()}-{now():%Y%m%dT%H%M%S}"
    doc: dict[str, Any] = {}

    def write(tmp: Path) -> None:
        report = people.train(identities, tmp / "model.json", seed=cfg.linkage.seed)
        doc.update({"version": version, "as_of": as_of.isoformat(), **counts, **asdict(report)})
        (tmp / "training_report.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")

    folder = files.folder(cfg.linkage.models_folder(cfg), version, write)
    return TrainResult(folder / "model.json", doc)


def latest_model(cfg: CouncilConfig) -> Path:
    folder = cfg.linkage.models_folder(cfg)
    found = sorted(p for p in folder.glob("*/model.json") if not p.parent.name.startswith("."))
    if not found:
        raise UserError(f"{folder}: no trained person-linkage model; run `riskflag link train` first")
    return found[-1]


def link_council(
    cfg: CouncilConfig,
    as_of: date,
    model: Path | None = None,
    full: bool = False,
    now: Callable[[], datetime] = datetime.now,
    say: Say = _quiet,
    relink_days: int | None = None,
    outputs: bool = True,
) -> LinkSummary:
    """Predict, cluster, assign stable person and household ids and residence histories, and
    record them in the linkage history (history.py).

    An incremental run scores only the pairs that involve an identity the last run did not
    have, and keeps the last run's scores for the rest; a full relink scores every pair. Both
    cluster every scored pair with the analyst's overrides, so they differ only where term
    frequencies have moved since a pair was scored. relink_days overrides the configuration's
    full_relink_days; without outputs, no run folder is written (a replay writes its own)."""
    model = model or latest_model(cfg)
    if not model.is_file():
        raise UserError(f"{model}: no such model file")
    run_id = f"{as_of.isoformat()}-link-{now():%Y%m%dT%H%M%S%f}"
    lk = cfg.linkage
    overrides = read_overrides(lk.overrides_path(cfg))
    with open_warehouse(cfg.warehouse) as con, transaction(con):
        started = now()
        fp = fingerprint(con, cfg, model)
        mode = choose_mode(con, cfg, fp, as_of, full, relink_days)
        delivered = newest_delivery(con)
        after = mode.after
        say("collecting the people every source names" + (f" (new since {after[0]})" if after else ""))
        counts = build_mentions(con, cfg, as_of, after)
        scoring = _score(con, mode, model, min(lk.review_band[0], lk.cluster_at), counts, say)
        say("clustering and keeping person ids stable")
        clusters = cluster(con, lk.cluster_at, overrides, scoring.changed)
        record_overrides(con, overrides)
        ids = assign_persons(con, clusters, run_id)
        build_residence(con)
        households = build_households(con, run_id)
        history.record(con, as_of)
        summary = summarise(con, run_id, as_of, model, counts, scoring.comparisons, ids, households)
        summary.mode, summary.new_identities = mode.mode, scoring.new_identities
        summary.overrides = len(overrides)
        record_run(
            con,
            RunRecord(run_id, as_of, mode.mode, model, fp, scoring.new_identities, started, now(), delivered),
        )
        _report(con, cfg, summary, scoring, outputs)
    return summary


def _score(
    con: duckdb.DuckDBPyConnection,
    mode: RunMode,
    model: Path,
    keep_above: float,
    counts: dict[str, int],
    say: Say,
) -> Scoring:
    """Every pair scored anew (full), or those of the identities new or changed since the last
    run (incremental)."""
    identities = describe(con)
    if mode.incremental:
        scoring = score_changes(con, identities, model, keep_above, say)
    else:
        say(f"scoring pairs among {counts['identities']:,} identities")
        scoring = score_all(con, identities, model, keep_above)
    identities.drop(con)
    return scoring


def _report(
    con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, summary: LinkSummary, scoring: Scoring, outputs: bool
) -> None:
    """The run folder, when the run writes one; summary.for_review and .outputs filled in."""
    if outputs:
        lk = cfg.linkage
        summary.outputs = write_outputs(
            con, cfg.output_folder, summary, lk.review_band, lk.cluster_at, scoring.review
        )
    else:
        summary.for_review = 0


def replay_council(
    cfg: CouncilConfig,
    dates: list[date],
    model: Path | None = None,
    now: Callable[[], datetime] = datetime.now,
    progress: Callable[[date], None] = lambda _: None,
) -> dict[str, object]:
    """Link at each date in order as the council knew it then, the first a full relink and each
    later one incremental from the one before, as nightly runs would have: the linkage history
    then holds the linkage as it stood at each date (history.py). The last date should be the
    latest delivery's, so the warehouse is left linked as a nightly run leaves it. Writes one run
    folder with a manifest and each date's counts."""
    if not dates:
        raise UserError("nothing to replay: no dates")
    model = model or latest_model(cfg)
    started = now()
    runs = []
    for i, day in enumerate(sorted(set(dates))):
        progress(day)
        s = link_council(cfg, day, model=model, full=i == 0, now=now, relink_days=10**6, outputs=False)
        gc.collect()  # each run's frames are garbage by now: free them before the next
        runs.append(
            {
                "as_of": day.isoformat(),
                "mode": s.mode,
                "identities": s.identities,
                "persons": s.persons,
                "households_now": s.households_now,
                "new_identities": s.new_identities,
            }
        )
    run_id = f"{max(dates).isoformat()}-replay-{started:%Y%m%dT%H%M%S%f}"
    doc: dict[str, object] = {
        "run_id": run_id,
        "stage": "link replay",
        "model": str(model),
        "started_at": started.isoformat(),
        "finished_at": now().isoformat(),
        "runs": runs,
        "outputs": ["manifest.json"],
        "tables": ["link_history_persons", "link_history_members"],
    }
    write_manifest(cfg.output_folder, run_id, doc)
    return doc
