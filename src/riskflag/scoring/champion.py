"""The model the nightly run scores with: the registry's champion, or, when the tracking server
cannot be reached, the copy of the last champion this machine resolved (said so on the list).

The cache holds the model's own files (trees and a calibration map, no personal data) and which
registered version they are; it is replaced atomically each time the champion is resolved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from riskflag.config import CouncilConfig
from riskflag.core import files
from riskflag.errors import UserError
from riskflag.modeling import BOOSTER, CALIBRATION, RiskModel

CACHE = "models/champion-cache"


@dataclass
class Champion:
    model: RiskModel
    name: str
    version: str
    run_id: str
    source: str  # registry | cache
    note: str = ""


def _cache(cfg: CouncilConfig) -> Path:
    return cfg.output_folder / CACHE


def resolve(cfg: CouncilConfig) -> Champion:
    from riskflag.modeling import registry

    registry.fail_fast()
    name = cfg.registered_name
    try:
        mlflow = registry.client(cfg)
        mv = mlflow.MlflowClient().get_model_version_by_alias(name, registry.CHAMPION)
    except Exception as exc:  # connection errors come as several kinds
        if registry.missing(exc):
            raise UserError(
                f"{name}: the registry at {cfg.tracking_uri} has no champion; run `riskflag promote`"
            ) from None
        return _from_cache(cfg, f"the tracking server cannot be reached ({_why(exc)})")
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}").unwrap_python_model().model
    except Exception as exc:  # the registry answered but the model's files cannot be fetched
        return _from_cache(cfg, f"champion version {mv.version}'s files cannot be loaded ({_why(exc)})")
    champ = Champion(model, name, str(mv.version), mv.run_id, "registry")
    _store(cfg, champ)
    return champ


def _store(cfg: CouncilConfig, champ: Champion) -> None:
    folder = _cache(cfg)

    def write(tmp: Path) -> None:
        champ.model.save(tmp)
        (tmp / "champion.json").write_text(
            json.dumps({"name": champ.name, "version": champ.version, "run_id": champ.run_id}),
            encoding="utf-8",
        )

    files.folder(folder.parent, folder.name, write)


def _why(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _from_cache(cfg: CouncilConfig, why: str) -> Champion:
    folder = _cache(cfg)
    meta = folder / "champion.json"
    if not meta.is_file():
        raise UserError(
            f"{cfg.tracking_uri}: {why}, and there is no cached champion in {folder}: no model to score with"
        )
    m = json.loads(meta.read_text(encoding="utf-8"))
    model = RiskModel.load(folder / BOOSTER, folder / CALIBRATION)
    note = f"{why}; scored with the locally cached champion, version {m['version']}"
    return Champion(model, m["name"], m["version"], m["run_id"], "cache", note)
