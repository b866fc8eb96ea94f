"""The nightly run: validate → link → features → score → explain → publish, for one as-of date.

Only this module wires the stages; each is a function of its own package. A run holds a kernel
lock, so a second concurrent run is refused; it writes its outputs for the as-of date in one
rename, so a run killed part-way leaves yesterday's list as it was; and it rewrites the status
page whatever happens, so nobody mistakes yesterday's list for today's. Running the same as-of
date again rebuilds the same files (byte-identical cohort files for the same inputs, config and
model).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from riskflag import __version__
from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.core.lock import exclusive
from riskflag.errors import UserError
from riskflag.features import FeatureSet, build
from riskflag.ingest import RunResult, deliveries_in_force, open_warehouse, validate_council
from riskflag.linkage import link_council
from riskflag.modeling import code_version, config_hash, drift, registry
from riskflag.scoring import (
    Champion,
    Explained,
    Flagged,
    band,
    cohort_csv,
    cohort_parquet,
    cohort_table,
    explain_households,
    flag_households,
    gather,
    load_reasons,
    names_and_addresses,
    now_iso,
    previous_flags,
    publish_folder,
    rank,
    resolve_champion,
    root,
    select,
    slug,
    status,
    suppressions,
    team_html,
    write_status,
)

Say = Callable[[str], None]
SMALL = 10


def _quiet(_: str) -> None:
    return None


class NightlyStop(UserError):
    """Tonight's run cannot publish a list (a critical source failed, the population drifted)."""

    exit_code = 1


@dataclass
class NightlyResult:
    as_of: date
    outcome: str  # ok | degraded
    folder: Path
    lists: dict[str, Path]
    counts: dict[str, Any]
    notes: list[str]
    manifest: dict = field(default_factory=dict)


__all__ = ["NightlyResult", "NightlyStop", "nightly", "root"]


def nightly(
    cfg: CouncilConfig, as_of: date, say: Say = _quiet, now: Callable[[], datetime] = datetime.now
) -> NightlyResult:
    base = root(cfg)
    lock = (
        cfg.nightly.lock_file
        if cfg.nightly.lock_file.is_absolute()
        else cfg.output_folder / cfg.nightly.lock_file
    )
    with exclusive(lock, "another nightly run"):
        files.clean_partials(base)
        current = _current_list(base)
        started = now_iso(now())
        state = {"as_of": as_of.isoformat(), "started": started, "finished": None, "current_list": current}
        write_status(base, {**state, "outcome": "running", "message": "The nightly run is in progress."})
        try:
            res = _run(cfg, as_of, say, now)
        except Exception as exc:
            # an internal error's text may quote a value from a record: its kind only, and the log
            why = str(exc) if isinstance(exc, UserError) else f"internal error ({type(exc).__name__})"
            write_status(
                base,
                {
                    **state,
                    "outcome": "failed",
                    "finished": now_iso(now()),
                    "message": f"Tonight's run failed: {why}",
                },
            )
            raise
        write_status(
            base,
            {
                **state,
                "outcome": res.outcome,
                "finished": now_iso(now()),
                "message": " ".join(
                    [f"{res.counts['flagged']} households flagged from {res.counts['cohort']:,}.", *res.notes]
                ),
                "current_list": _current_list(base),
            },
        )
        return res


def _current_list(base: Path) -> dict | None:
    """The newest published list (by as-of date), from its manifest."""
    found = sorted(p for p in base.glob("*/manifest.json") if not p.parent.name.startswith("."))
    if not found:
        return None
    m = json.loads(found[-1].read_text(encoding="utf-8"))
    return {"as_of": m["as_of"], "lists": {t: str(found[-1].parent / f) for t, f in m["lists"].items()}}


class _Timings:
    """How long each stage took, for the manifest."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.seconds: dict[str, float] = {}

    def stage(self, name: str) -> Callable[[], None]:
        self.say(name)
        t0 = time.perf_counter()
        return lambda: self.seconds.__setitem__(name, round(time.perf_counter() - t0, 2))


@dataclass
class _Scored:
    """Tonight's cohort ranked, banded and flagged, from the feature build `features`."""

    features: FeatureSet
    ranked: pd.DataFrame
    excluded: dict[str, int]


def _run(cfg: CouncilConfig, as_of: date, say: Say, now: Callable[[], datetime]) -> NightlyResult:
    timings = _Timings(say)
    notes: list[str] = []
    run, degraded = _validate_and_link(cfg, as_of, now, timings, notes)
    done = timings.stage("model")
    champ = resolve_champion(cfg)
    if champ.note:
        notes.append(champ.note[0].upper() + champ.note[1:] + ".")
    done()
    families = load_reasons(cfg.nightly.reasons_path(cfg))
    with open_warehouse(cfg.warehouse) as con:
        scored = _score(con, cfg, as_of, champ, timings)
        psi = _drift(cfg, champ, scored.ranked, timings, notes)
        done = timings.stage("explain")
        flagged = scored.ranked[scored.ranked["team"].notna()].reset_index(drop=True)
        fl = flag_households(con, scored.features, flagged)
        ex = _explain(con, cfg, champ, fl, flagged, families)
        people = names_and_addresses(con, fl)
        in_force = deliveries_in_force(con, as_of)
        done()
    done = timings.stage("publish")
    cohort = cohort_table(scored.ranked, ex.table, people, f"{champ.name} v{champ.version}", as_of)
    manifest = _manifest(
        cfg, as_of, run, champ, cohort, scored.excluded, psi, notes, timings.seconds, degraded
    )
    manifest["config_sha256"], manifest["code_version"] = config_hash(cfg), code_version()
    manifest["deliveries_in_force"] = in_force
    manifest["lists"] = {t.name: f"list-{slug(t.name)}.html" for t in cfg.teams}
    folder = _publish(cfg, as_of, champ, cohort, manifest, notes)
    done()
    mlflow_note = _log_scoring_run(cfg, as_of, manifest, cohort, psi)
    if mlflow_note:
        notes.append(mlflow_note)
    return NightlyResult(
        as_of,
        "degraded" if degraded or champ.source == "cache" else "ok",
        folder,
        {t: folder / f for t, f in manifest["lists"].items()},
        manifest["counts"],
        notes,
        manifest,
    )


def _validate_and_link(
    cfg: CouncilConfig, as_of: date, now: Callable[[], datetime], timings: _Timings, notes: list[str]
) -> tuple[RunResult, list[str]]:
    """Tonight's deliveries validated and linked; stops if a source critical to scoring failed.
    Returns the validation run and the sources left out tonight."""
    done = timings.stage("validate")
    run, _ = validate_council(cfg, as_of, now=now)
    done()
    if run.status == "stopped":
        failed = [s for s in run.sources if s.status != "ok" and s.critical]
        raise NightlyStop(
            "a source critical to scoring failed validation: "
            + "; ".join(f"{s.source}: {s.message or 'failed'}" for s in failed)
        )
    degraded = run.excluded
    if degraded:
        notes.append(
            f"Degraded run: {', '.join(degraded)} left out tonight (failed validation); "
            "reasons from those sources are missing."
        )
    done = timings.stage("link")
    link_council(cfg, as_of, now=now)
    done()
    return run, degraded


def _score(
    con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, as_of: date, champ: Champion, timings: _Timings
) -> _Scored:
    """Features at as_of, scored by the champion, ranked, banded, suppressed and flagged."""
    done = timings.stage("features")
    fs = build(con, [as_of])
    feats = fs.frame(con, order="household_id")
    excluded = fs.excluded_counts(con)
    done()
    if feats.empty:
        raise NightlyStop(f"no household is in the cohort at {as_of}: is the council-tax base loaded?")
    done = timings.stage("score")
    scored = champ.model.score(feats)
    feats["raw_score"] = scored["raw_score"].to_numpy()
    feats["probability"] = scored["probability"].to_numpy()
    feats["suppressed"] = suppressions(con, cfg, fs, as_of, feats)
    ranked = rank(feats)
    ranked["band"] = band(ranked["probability"].to_numpy(), cfg.nightly.bands)
    ranked["team"] = select(ranked, cfg.teams, cfg.nightly.probability_floor)
    is_flagged = ranked["team"].notna()
    ranked["flag"] = None
    ranked.loc[is_flagged, "flag"] = status(
        ranked.loc[is_flagged, "household_id"], previous_flags(root(cfg), as_of)
    )
    done()
    return _Scored(fs, ranked, excluded)


def _drift(
    cfg: CouncilConfig, champ: Champion, ranked: pd.DataFrame, timings: _Timings, notes: list[str]
) -> dict[str, float]:
    """The population stability of tonight's inputs against the model's reference; stops the
    run when the score itself has moved too far."""
    done = timings.stage("drift")
    psi = (
        drift.stability(champ.model.reference, ranked, ranked["raw_score"].to_numpy())
        if (champ.model.reference)
        else {}
    )
    warn = sorted(k for k, v in psi.items() if v > cfg.nightly.drift_warn)
    done()
    if psi.get("score", 0.0) > cfg.nightly.drift_stop:
        raise NightlyStop(
            f"the score's population stability index is {psi['score']:.3f}, above nightly.drift_stop "
            f"{cfg.nightly.drift_stop}: tonight's population differs from the one the model was judged on"
        )
    if warn:
        notes.append(
            f"Drift warning: {len(warn)} inputs have moved from the training reference "
            f"(PSI above {cfg.nightly.drift_warn}): {', '.join(warn[:8])}{'…' if len(warn) > 8 else ''}."
        )
    if not psi:
        notes.append("No drift reference in this model version: drift not measured.")
    return psi


def _explain(
    con: duckdb.DuckDBPyConnection,
    cfg: CouncilConfig,
    champ: Champion,
    fl: Flagged,
    flagged: pd.DataFrame,
    families: dict,
) -> Explained:
    """Reasons for the flagged households, from the model's contributions and their evidence."""
    ev = gather(con, fl)
    ex = explain_households(
        champ.model, flagged, ev, families, cfg.nightly.reasons, cfg.nightly.protective_factors
    )
    gap = np.abs(ex.contributions.sum(axis=1) - flagged["raw_score"].to_numpy())
    if gap.max(initial=0.0) > 1e-6:
        raise RuntimeError(f"contributions do not add up to the raw score (gap {gap.max():.2e})")
    return ex


def _publish(
    cfg: CouncilConfig, as_of: date, champ: Champion, cohort: pd.DataFrame, manifest: dict, notes: list[str]
) -> Path:
    """The cohort files, one list per team (manifest["lists"]) and the manifest, in one rename."""
    lists = manifest["lists"]
    meta = {
        "as_of": as_of.isoformat(),
        "council": cfg.council.name,
        "model": f"{champ.name} v{champ.version}",
        "notes": notes,
    }

    def write(folder: Path) -> None:
        cohort_parquet(cohort, folder / "cohort.parquet")
        (folder / "cohort.csv").write_bytes(cohort_csv(cohort))
        for t in cfg.teams:
            rows = cohort[cohort["team"] == t.name].sort_values("rank")
            (folder / lists[t.name]).write_text(team_html(t.name, rows, meta), encoding="utf-8")
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")

    return publish_folder(root(cfg), as_of, write)


def _small(n: int) -> int | str:
    return n if n == 0 or n >= SMALL else f"<{SMALL}"


def _manifest(
    cfg: CouncilConfig,
    as_of: date,
    run: RunResult,
    champ: Champion,
    cohort: pd.DataFrame,
    excluded: dict[str, int],
    psi: dict[str, float],
    notes: list[str],
    timings: dict[str, float],
    degraded: list[str],
) -> dict:
    flagged = cohort[cohort["team"].notna()]
    return {
        "as_of": as_of.isoformat(),
        "riskflag_version": __version__,
        "council": cfg.council.code,
        "validation_run": run.run_id,
        "deliveries_tonight": [
            {
                "source": d.source,
                "file": d.name,
                "delivered_on": d.delivered_on.isoformat(),
                "sha256": d.sha256,
                "status": d.status,
                "rows_read": d.rows_read,
                "rows_accepted": d.rows_accepted,
                "rows_quarantined": d.rows_quarantined,
            }
            for s in run.sources
            for d in s.deliveries
        ],
        "degraded_sources": degraded,
        "model": {
            "name": champ.name,
            "version": champ.version,
            "run_id": champ.run_id,
            "source": champ.source,
            "note": champ.note,
        },
        "counts": {
            "cohort": len(cohort),
            "flagged": len(flagged),
            "flagged_by_team": {t.name: int((flagged["team"] == t.name).sum()) for t in cfg.teams},
            "flagged_by_status": {k: int(v) for k, v in flagged["flag"].value_counts().sort_index().items()},
            "suppressed": {k: int(v) for k, v in cohort["suppressed"].value_counts().sort_index().items()},
            "excluded_from_cohort": {k: int(v) for k, v in excluded.items()},
        },
        "drift_psi": psi,
        "notes": notes,
        "timings_s": timings,
    }


def _log_scoring_run(cfg: CouncilConfig, as_of: date, manifest: dict, cohort: pd.DataFrame, psi: dict) -> str:
    """Aggregates only (counts, score distribution, drift; small cells suppressed) to an MLflow
    scoring run. The list is published already: a tracking store that cannot take it costs a
    note, not the night's list."""
    try:
        mlflow = registry.client(cfg)
        c = manifest["counts"]
        metrics: dict[str, float] = {"cohort": c["cohort"], "flagged": c["flagged"]}
        for k, v in {**c["suppressed"], **c["excluded_from_cohort"]}.items():
            if isinstance(_small(v), int):
                metrics[f"not_flagged.{k.replace(' ', '_')}"] = v
        q = np.quantile(cohort["probability"].to_numpy(), [0.5, 0.9, 0.99])
        metrics |= {"probability.p50": q[0], "probability.p90": q[1], "probability.p99": q[2]}
        metrics |= {f"psi.{k}": v for k, v in psi.items()}
        with mlflow.start_run(
            experiment_id=registry.experiment_id(cfg), run_name=f"nightly {as_of.isoformat()}"
        ):
            mlflow.set_tags({"kind": "nightly", "as_of": as_of.isoformat()})
            mlflow.log_params(
                {"model_version": manifest["model"]["version"], "model_source": manifest["model"]["source"]}
            )
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    except Exception as exc:
        return f"Aggregate metrics not logged to MLflow ({type(exc).__name__})."
    return ""
