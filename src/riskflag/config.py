"""Typed settings for one council, loaded from configs/council.yaml.

Everything that differs between councils (where the files are, what each system calls its
columns and codes, the horizon, each team's capacity) lives in configuration, so that adding
a council is an edit to YAML, never to code. Unknown keys and wrong types are rejected with
the file, the key and what was expected.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from riskflag.errors import ConfigError

SOURCE_NAMES = (
    "llpg",
    "area_deprivation",
    "council_tax",
    "benefits",
    "rent_accounts",
    "homelessness_cases",
    "childrens_services",
    "adult_social_care",
    "asb_incidents",
    "education",
    "deaths",
    "objections",
    "contacts",
)


def shipped(*parts: str) -> Path:
    """A file riskflag ships as package data, the default where a council names none of its own
    (found through importlib.resources, so an installed riskflag has it; installed unzipped, it is
    a file on disk that DuckDB can read)."""
    return Path(str(resources.files("riskflag").joinpath(*parts)))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Strict):
    """Where one source's deliveries are and how its columns and codes map onto the contract."""

    path: str = Field(description="glob of delivery files, relative to data_folder")
    format: Literal["csv", "parquet", "excel", "sql"] = "csv"
    encoding: Literal["utf-8", "utf-8-sig", "cp1252"] = "utf-8"
    delimiter: Literal[",", "|", "\t", ";"] = ","
    date_format: str | None = None
    query: str | None = None
    url: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="contract field -> source column")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="contract field -> {source code: contract value}"
    )
    sheet: str | None = Field(default=None, description="Excel sheet to read; the first when empty")
    delivered_pattern: str = Field(
        default=r"(\d{4}-\d{2}-\d{2})",
        description="regex whose first group is the ISO delivery date in a file name; "
        "files without one are dated by their modification time",
    )
    volume_bounds: tuple[float, float] | None = Field(
        default=None,
        description="rows of a delivery over rows of the last accepted one; "
        "default 0.5-2.0 for full snapshots, unchecked for deltas",
    )
    max_rejected_share: float = Field(
        default=0.05, gt=0, le=1, description="a delivery with more quarantined rows than this stops"
    )

    @model_validator(mode="after")
    def _sql_needs_query(self) -> SourceConfig:
        if self.format == "sql" and not (self.query and self.url):
            raise ValueError("a sql source needs both 'url' and 'query'")
        return self


class Team(Strict):
    name: str
    capacity: int = Field(gt=0, description="households the team can contact per list")
    wards: list[str] = Field(default_factory=list, description="ward codes; empty = the whole borough")


class CouncilInfo(Strict):
    name: str
    code: str = Field(pattern=r"^[A-Z0-9]{2,8}$")


class LinkageConfig(Strict):
    """How records are linked: what differs between councils, and the thresholds an analyst tunes."""

    extra_localities: list[str] = Field(
        default_factory=list,
        description="names an address may end with besides the gazetteer's towns (the county, say)",
    )
    nicknames: Path | None = Field(
        default=None, description="nickname,usual CSV, relative to this file; default riskflag's own list"
    )
    models: Path = Field(
        default=Path("models/linkage"), description="model versions; relative to output_folder"
    )
    cluster_at: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="match probability that links two identities (chosen on a development seed: "
        "precision stays above 0.998 down to 0.5; see docs/linkage.md)",
    )
    review_band: tuple[float, float] = Field(
        default=(0.6, 0.9), description="match probabilities exported for clerical review"
    )
    overrides: Path = Field(
        default=Path("linkage/overrides.csv"),
        description="an analyst's must-link and cannot-link decisions; relative to output_folder",
    )
    full_relink_days: int = Field(
        default=28, ge=0, description="a link run relinks everything when the last full relink is older"
    )
    seed: int = 1

    def overrides_path(self, cfg: CouncilConfig) -> Path:
        return self.overrides if self.overrides.is_absolute() else cfg.output_folder / self.overrides

    def nicknames_path(self, cfg: CouncilConfig) -> Path:
        if self.nicknames is None:
            return shipped("linkage", "nicknames.csv")
        return self.nicknames if self.nicknames.is_absolute() else cfg.path.resolve().parent / self.nicknames

    def models_folder(self, cfg: CouncilConfig) -> Path:
        return self.models if self.models.is_absolute() else cfg.output_folder / self.models


class Gates(Strict):
    """What a challenger model must show before `riskflag promote` makes it the champion."""

    auc_margin: float = Field(
        default=0.01, ge=0, description="AUC may be at most this much below the champion's on the same period"
    )
    precision_margin: float = Field(
        default=0.02, ge=0, description="precision at capacity may be at most this much below the champion's"
    )
    observed_over_expected: tuple[float, float] = (0.85, 1.15)
    calibration_slope: tuple[float, float] = (0.8, 1.2)
    fairness_recall_ratio: tuple[float, float] = Field(
        default=(0.8, 1.25),
        description="each group's recall at capacity over the largest group's; refused when its 95% "
        "interval lies outside",
    )


class ModelConfig(Strict):
    """How the household-risk model is trained, tracked and promoted."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; default a SQLite store under output_folder/mlflow",
    )
    registered_name: str | None = Field(
        default=None, description="default riskflag-<council code>-<horizon>d"
    )
    max_as_of_dates: int = Field(
        default=24, ge=6, le=120, description="monthly as-of dates a training job uses"
    )
    negative_fraction: float = Field(
        default=0.3, gt=0, le=1, description="share of non-approaching household-dates kept for training"
    )
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=4, le=255)
    max_depth: int = Field(default=6, ge=2, le=12, description="bounded: explanations cost grows with depth")
    min_child_samples: int = Field(default=200, ge=10)
    max_rounds: int = Field(default=600, ge=10)
    early_stopping_rounds: int = Field(default=40, ge=5)
    seed: int = 7
    gates: Gates = Gates()


class Bands(Strict):
    """Calibrated probability from which a household is in each risk band (below medium: low)."""

    very_high: float = Field(default=0.3, gt=0, lt=1)
    high: float = Field(default=0.15, gt=0, lt=1)
    medium: float = Field(default=0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if not self.very_high > self.high > self.medium:
            raise ValueError("bands must fall: very_high > high > medium")
        return self


class NightlyConfig(Strict):
    """The nightly scoring run: who is flagged, what is suppressed, what is explained, when to stop."""

    probability_floor: float = Field(
        default=0.03, ge=0, lt=1, description="no household below this calibrated probability is flagged"
    )
    contacted_within_days: int = Field(
        default=90, ge=0, description="a household the team contacted this recently is not flagged again"
    )
    reasons: int = Field(default=4, ge=1, le=10, description="reasons shown per flagged household")
    protective_factors: int = Field(default=2, ge=0, le=10)
    reasons_file: Path | None = Field(
        default=None,
        description="reason templates and support, relative to this file; default riskflag's own "
        "(configs/reasons.yaml in a checkout)",
    )
    bands: Bands = Bands()
    drift_warn: float = Field(default=0.1, gt=0, description="population stability index that warns")
    drift_stop: float = Field(
        default=0.25, gt=0, description="population stability index of the score that stops"
    )
    lock_file: Path = Field(default=Path("nightly/.lock"), description="relative to output_folder")

    def reasons_path(self, cfg: CouncilConfig) -> Path:
        f = self.reasons_file
        if f is None:
            return shipped("scoring", "reasons.yaml")
        return f if f.is_absolute() else cfg.path.resolve().parent / f


class CouncilConfig(Strict):
    """One council's settings. `path` is the file it came from, for messages that name it."""

    council: CouncilInfo
    data_folder: Path
    output_folder: Path = Path("../runs")
    horizon_days: Literal[56, 182, 365] = 182
    teams: list[Team] = Field(min_length=1)
    sources: dict[str, SourceConfig]
    linkage: LinkageConfig = LinkageConfig()
    model: ModelConfig = ModelConfig()
    nightly: NightlyConfig = NightlyConfig()
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path:
        return self._path or Path("council.yaml")

    def with_folders(self, data_folder: Path, output_folder: Path) -> CouncilConfig:
        """This config pointed at other extracts and outputs (the demo's), still naming its file."""
        moved = self.model_copy(update={"data_folder": data_folder, "output_folder": output_folder})
        moved._path = self._path
        return moved

    @property
    def warehouse(self) -> Path:
        return self.output_folder / "warehouse.duckdb"

    @property
    def tracking_uri(self) -> str:
        default = self.output_folder / "mlflow" / "mlflow.db"
        return self.model.tracking_uri or f"sqlite:///{default.as_posix()}"

    @property
    def registered_name(self) -> str:
        return self.model.registered_name or f"riskflag-{self.council.code.lower()}-{self.horizon_days}d"

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        unknown = sorted(set(v) - set(SOURCE_NAMES))
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; expected one of {', '.join(SOURCE_NAMES)}")
        return v


def _location(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_config(path: Path | str) -> CouncilConfig:
    """Load and check a council config; relative folders are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        cfg = CouncilConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _location(err["loc"])
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f"; got {got!r}"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{path}: {key}: {msg}{shown}") from None
    base = path.resolve().parent
    cfg = cfg.model_copy(
        update={
            "data_folder": (base / cfg.data_folder).resolve(),
            "output_folder": (base / cfg.output_folder).resolve(),
        }
    )
    cfg._path = path
    return cfg
