"""MLflow: one run per training job, the model registered, and promotion behind gates.

Only aggregates reach MLflow: parameters, metrics, plots over households, the fairness table
with cells of fewer than SMALL households suppressed, a model card, and the model itself (trees
over feature values and a calibration map). Datasets are recorded as metadata (MetaDataset: what
was used, never the rows). No identifier, name, date of birth, address or id of a person or
household is logged: tests search the store for them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from riskflag import __version__
from riskflag.config import CouncilConfig
from riskflag.errors import UserError

if TYPE_CHECKING:
    from riskflag.modeling.train import Trained

SMALL = 10  # cells of fewer households than this are suppressed in anything that leaves the pipeline
CHAMPION, CHALLENGER = "champion", "challenger"


def client(cfg: CouncilConfig) -> Any:
    """MLflow pointed at the council's tracking store (a SQLite file under output_folder by
    default, or a tracking server by configuration)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def experiment_id(cfg: CouncilConfig) -> str:
    mlflow = client(cfg)
    name = f"riskflag-{cfg.council.code.lower()}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if cfg.tracking_uri.startswith("sqlite:///"):
        location = (cfg.output_folder / "mlflow" / "artifacts").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def code_version() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def config_hash(cfg: CouncilConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    ):
        out[prefix] = float(value)


def suppress_small(table: pd.DataFrame, count_col: str = "households") -> pd.DataFrame:
    """Rows about fewer than SMALL households keep their group name and nothing else."""
    t = table.copy()
    small = t[count_col] < SMALL
    for c in t.columns:
        if c not in ("attribute", "group", "judged", "note"):
            t[c] = t[c].astype(object)
            t.loc[small, c] = None
    t.loc[small, "note"] = f"fewer than {SMALL} households: suppressed"
    t.loc[small, count_col] = f"<{SMALL}"
    return t


def synthetic_example(features: list[str]) -> pd.DataFrame:
    """An input example made up, not drawn from anyone's record."""
    row = dict.fromkeys(features, 0.0)
    row.update({"members": 2.0, "adults": 2.0, "imd_decile": 5.0})
    return pd.DataFrame([row])


@dataclass
class Logged:
    run_id: str
    version: str
    model_uri: str


def log_training(
    cfg: CouncilConfig,
    trained: Trained,
    as_of: date,
    fairness: pd.DataFrame,
    coverage: dict[str, float],
    card: str,
    plots: list[Path],
) -> Logged:
    """One MLflow run holding the training job's aggregates and the model, registered as a new
    version and made the challenger."""
    mlflow = client(cfg)
    with mlflow.start_run(
        experiment_id=experiment_id(cfg), run_name=f"train {as_of.isoformat()} {cfg.horizon_days}d"
    ) as run:
        mlflow.log_params(_params(cfg, trained, as_of))
        _log_inputs(cfg, trained, as_of)
        mlflow.log_metrics(_metrics(trained))
        with tempfile.TemporaryDirectory() as tmp:
            _log_report(Path(tmp), trained, fairness, coverage, card, plots)
            info = _log_model(cfg, trained, Path(tmp) / "model_files")
    version = str(info.registered_model_version)
    _tag_challenger(cfg, trained, version)
    return Logged(run.info.run_id, version, f"models:/{cfg.registered_name}/{version}")


def _params(cfg: CouncilConfig, trained: Trained, as_of: date) -> dict[str, Any]:
    periods = trained.periods
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": cfg.horizon_days,
        "config_sha256": config_hash(cfg),
        "code_version": code_version(),
        "council": cfg.council.code,
        "best_iteration": trained.best_iteration,
        "calibration": trained.calibration_choice["method"],
        "negative_fraction": cfg.model.negative_fraction,
        "features": len(trained.model.features),
        "evaluation_dates": ",".join(d.isoformat() for d in periods.evaluation),
        **{f"lgbm.{k}": v for k, v in trained.params.items()},
        **{
            f"period.{name}": f"{dates[0].isoformat()}..{dates[-1].isoformat()} ({len(dates)})"
            for name, dates in (
                ("train", periods.train),
                ("validation", periods.validation),
                ("calibration", periods.calibration),
                ("evaluation", periods.evaluation),
            )
        },
    }


def _log_inputs(cfg: CouncilConfig, trained: Trained, as_of: date) -> None:
    """Each period's household-dates as metadata: how many, never which."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    for name, c in trained.counts.items():
        digest = hashlib.sha256(json.dumps([name, c, str(as_of)], sort_keys=True).encode()).hexdigest()[:16]
        ds = MetaDataset(source=_source(cfg), name=f"household-dates:{name}", digest=digest)  # type: ignore[abstract]
        mlflow.log_input(ds, context=name, tags={k: str(v) for k, v in c.items()})


def _metrics(trained: Trained) -> dict[str, float]:
    metrics: dict[str, float] = {}
    _flatten(
        "",
        {k: {m: v for m, v in e.items() if m != "reliability"} for k, e in trained.evaluation.items()},
        metrics,
    )
    _flatten(
        "calibration_choice",
        {k: v for k, v in trained.calibration_choice.items() if k != "method"},
        metrics,
    )
    return {k.replace("%", "pct"): v for k, v in metrics.items()}


def _log_report(
    folder: Path,
    trained: Trained,
    fairness: pd.DataFrame,
    coverage: dict[str, float],
    card: str,
    plots: list[Path],
) -> None:
    import mlflow

    (folder / "evaluation.json").write_text(
        json.dumps(aggregates(trained.evaluation), indent=2), encoding="utf-8"
    )
    suppress_small(fairness).to_csv(folder / "fairness.csv", index=False)
    (folder / "fairness_coverage.json").write_text(json.dumps(coverage, indent=2), encoding="utf-8")
    (folder / "model_card.md").write_text(card, encoding="utf-8")
    trained.importance.to_csv(folder / "feature_importance.csv", index=False)
    (folder / "features.json").write_text(json.dumps(trained.model.features, indent=1), encoding="utf-8")
    mlflow.log_artifacts(str(folder), artifact_path="report")
    for p in plots:
        mlflow.log_artifact(str(p), artifact_path="plots")


def _log_model(cfg: CouncilConfig, trained: Trained, folder: Path) -> Any:
    import mlflow
    from mlflow.models import infer_signature

    from riskflag.modeling.pyfunc import PyfuncRisk

    files = trained.model.save(folder)
    example = synthetic_example(trained.model.features)
    signature = infer_signature(example, trained.model.score(example))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=PyfuncRisk(),
        artifacts=files,
        signature=signature,
        input_example=example,
        registered_model_name=cfg.registered_name,
    )


def _tag_challenger(cfg: CouncilConfig, trained: Trained, version: str) -> None:
    c = client(cfg).MlflowClient()
    c.set_registered_model_alias(cfg.registered_name, CHALLENGER, version)
    ev = trained.evaluation["model"]
    c.set_model_version_tag(cfg.registered_name, version, "horizon_days", str(cfg.horizon_days))
    c.set_model_version_tag(cfg.registered_name, version, "evaluation_auc", f"{ev['auc']['value']:.4f}")
    c.set_model_version_tag(
        cfg.registered_name,
        version,
        "evaluation_period",
        ",".join(d.isoformat() for d in trained.periods.evaluation),
    )


def _source(cfg: CouncilConfig) -> Any:
    """Where the data came from, as a name only: the council and its warehouse's file name."""
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    return HTTPDatasetSource(url=f"riskflag://{cfg.council.code.lower()}/warehouse")


def aggregates(evaluation: dict) -> dict:
    """The evaluation with reliability bins of fewer than SMALL rows suppressed."""
    out = json.loads(json.dumps(evaluation, default=float))
    for e in out.values():
        for key in ("reliability",):
            if key in e:
                e[key] = [b if b[2] >= SMALL else [None, None, f"<{SMALL}"] for b in e[key]]
        if "uncalibrated" in e:
            e["uncalibrated"]["reliability"] = [
                b if b[2] >= SMALL else [None, None, f"<{SMALL}"] for b in e["uncalibrated"]["reliability"]
            ]
    return out


def masked_uri(uri: str) -> str:
    """The tracking URI as it may be printed: a password in it becomes ***."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def missing(exc: Exception) -> bool:
    """The registry answered and has no such model, version or alias, as opposed to not
    answering (a connection refused, a timeout, a server error), which is no answer at all."""
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def unreachable(cfg: CouncilConfig, exc: Exception) -> UserError:
    """The one-line error for a registry that did not answer, with any password masked."""
    password = urlsplit(cfg.tracking_uri).password
    text = str(exc).splitlines()[0] if str(exc) else ""
    why = f"{type(exc).__name__}: {text}"[:300]
    if password:
        why = why.replace(password, "***")
    return UserError(f"the model registry at {masked_uri(cfg.tracking_uri)} cannot be reached ({why})")


def fail_fast() -> None:
    """An unreachable tracking server fails in seconds, not after MLflow's minutes of retries
    (unless the environment says otherwise)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def alias_version(cfg: CouncilConfig, alias: str) -> str | None:
    """The version an alias points to; None only when the registry answers that there is no such
    alias (or model). Anything else is a UserError: a registry that cannot be asked must never be
    taken to have no champion."""
    c = client(cfg).MlflowClient()
    try:
        return str(c.get_model_version_by_alias(cfg.registered_name, alias).version)
    except Exception as exc:  # connection errors come as several kinds
        if missing(exc):
            return None
        raise unreachable(cfg, exc) from None


def load_by_alias(cfg: CouncilConfig, alias: str = CHAMPION) -> Any:
    mlflow = client(cfg)
    try:
        return mlflow.pyfunc.load_model(f"models:/{cfg.registered_name}@{alias}")
    except Exception as exc:  # MLflow raises several kinds for a missing model or alias
        if not missing(exc):
            raise unreachable(cfg, exc) from None
        raise UserError(
            f"no {alias} model {cfg.registered_name} in {masked_uri(cfg.tracking_uri)} ({exc})".splitlines()[
                0
            ]
        ) from None


def resolve(cfg: CouncilConfig, version: str | None = None, alias: str = CHALLENGER) -> tuple[str, str]:
    """(version, run id) of a registered model version, by number or by alias."""
    mlflow = client(cfg)
    c = mlflow.MlflowClient()
    try:
        mv = (
            c.get_model_version(cfg.registered_name, version)
            if version
            else c.get_model_version_by_alias(cfg.registered_name, alias)
        )
    except Exception as exc:  # connection errors come as several kinds
        if not missing(exc):
            raise unreachable(cfg, exc) from None
        which = f"version {version}" if version else f"alias {alias!r}"
        raise UserError(
            f"{cfg.registered_name}: no {which} in {masked_uri(cfg.tracking_uri)}; run `riskflag train` first"
        ) from None
    return str(mv.version), mv.run_id


def load_version(cfg: CouncilConfig, version: str) -> Any:
    """The registered pyfunc's scoring model (raw score and probability)."""
    mlflow = client(cfg)
    return mlflow.pyfunc.load_model(f"models:/{cfg.registered_name}/{version}").unwrap_python_model().model


@dataclass
class Decision:
    version: str
    promoted: bool
    reasons: list[str]
    champion_before: str | None


def promote(cfg: CouncilConfig, version: str | None, on: date) -> Decision:
    """Make a challenger the champion if it passes the configured gates: its own observed/
    expected and calibration slope within bounds, recall at capacity of every group large
    enough to judge within bounds of the largest group's, and on the challenger's evaluation
    period no worse than the current champion beyond the margins. The decision and its reasons
    are recorded on the version in the registry, passed or not. A registry that does not answer
    stops it with one line before anything is recorded: silence is never "no champion"."""
    from riskflag.features import build
    from riskflag.ingest import open_warehouse
    from riskflag.modeling import metrics as mt
    from riskflag.modeling.evaluate import select_at_capacity

    fail_fast()
    mlflow = client(cfg)
    c = mlflow.MlflowClient()
    version, run_id = resolve(cfg, version)
    run = mlflow.get_run(run_id)
    m, g = run.data.metrics, cfg.model.gates
    reasons: list[str] = []

    def within(name: str, value: float | None, bounds: tuple[float, float]) -> None:
        if value is None or not bounds[0] <= value <= bounds[1]:
            reasons.append(
                f"{name} {value if value is None else round(value, 3)} outside {bounds[0]} to {bounds[1]}"
            )

    within("observed/expected", m.get("model.observed_over_expected.value"), g.observed_over_expected)
    within("calibration slope", m.get("model.calibration_slope.value"), g.calibration_slope)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="report/fairness.csv", dst_path=tmp
        )
        table = pd.read_csv(path)
    judged = table[table["judged"].astype(str) == "True"]
    for _, r in judged.iterrows():
        ratio, low, high = (
            float(r[k]) for k in ("recall_at_capacity_ratio", "recall_ratio_low", "recall_ratio_high")
        )
        lo, hi = g.fairness_recall_ratio
        # refused on evidence: the whole 95% interval of the ratio outside the bounds
        if math.isfinite(ratio) and (high < lo or low > hi):
            reasons.append(
                f"recall at capacity for {r['attribute']} = {r['group']} is {ratio:.2f} times "
                f"the largest group's (95% interval {low:.2f} to {high:.2f}) "
                f"(allowed {g.fairness_recall_ratio[0]} to {g.fairness_recall_ratio[1]})"
            )
    champion = alias_version(cfg, CHAMPION)
    if champion and champion != version:
        dates = [date.fromisoformat(d) for d in run.data.params["evaluation_dates"].split(",")]
        with open_warehouse(cfg.warehouse) as con:
            rows = build(con, dates, int(run.data.params["horizon_days"])).frame(con, where="NOT censored")
        y = rows["label"].to_numpy().astype(float)
        figures = {}
        for name, v in (("challenger", version), ("champion", champion)):
            raw, prob = load_version(cfg, v).score(rows)[["raw_score", "probability"]].to_numpy(float).T
            chosen = select_at_capacity(rows, raw, cfg.teams, prob, cfg.nightly.probability_floor)
            figures[name] = (mt.auc(y, raw), float(y[chosen].mean()))
        (ca, cp), (pa, pp) = figures["challenger"], figures["champion"]
        if ca < pa - g.auc_margin:
            reasons.append(f"AUC {ca:.3f} is below the champion's {pa:.3f} by more than {g.auc_margin}")
        if cp < pp - g.precision_margin:
            reasons.append(
                f"precision at capacity {cp:.3f} is below the champion's {pp:.3f} "
                f"by more than {g.precision_margin}"
            )
    promoted = not reasons
    summary = "passed every gate" if promoted else "; ".join(reasons)
    c.set_model_version_tag(
        cfg.registered_name, version, "promotion_decision", "promoted" if promoted else "refused"
    )
    c.set_model_version_tag(cfg.registered_name, version, "promotion_reasons", summary[:4000])
    c.set_model_version_tag(cfg.registered_name, version, "promotion_date", on.isoformat())
    if promoted:
        c.set_registered_model_alias(cfg.registered_name, CHAMPION, version)
        c.update_model_version(
            cfg.registered_name, version, description=f"Champion from {on.isoformat()}: {summary}."
        )
    return Decision(version, promoted, reasons, champion)
