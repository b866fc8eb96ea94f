"""riskflag as a council installs it: a wheel built from this checkout, installed into a fresh
virtual environment outside it, run from a folder whose path has an apostrophe and a space, under
a permissive umask (cron's and Airflow's are often 022 or 000), through validate, link, train,
promote and the nightly run.

The fresh environment takes riskflag only from the wheel; its dependencies are the test
environment's own, reached through a path file, so that the test needs no download.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import SMALL_COUNCIL_GATES

ROOT = Path(__file__).resolve().parents[1]
TRAIN_AT, NIGHT = "2026-10-30", "2026-10-31"


@dataclass
class Installed:
    bin: Path
    council: Path
    config: Path
    runs: Path
    results: dict[str, subprocess.CompletedProcess[str]]


def _build_wheel(tmp: Path) -> Path:
    """From a copy, so that building leaves nothing in the checkout."""
    src = tmp / "src-copy"
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp.glob("riskflag-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "riskflag-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(council_2k: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("installed")
    bin_ = _fresh_venv(tmp, _build_wheel(tmp))
    council = tmp / "St John's council"
    shutil.copytree(council_2k / "extracts", council / "data extracts")
    raw = yaml.safe_load((ROOT / "configs" / "council.yaml").read_text())
    raw["data_folder"] = "data extracts"
    raw["output_folder"] = "riskflag runs"
    raw.setdefault("model", {})["max_as_of_dates"] = 18
    raw["model"]["gates"] = {k: list(v) for k, v in SMALL_COUNCIL_GATES.items()}
    config = council / "council's config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    results = {}
    for name, args in {
        "where": ["python", "-c", "import riskflag, sys; print(riskflag.__file__)"],
        "validate": ["riskflag", "validate", "--as-of", TRAIN_AT],
        "link train": ["riskflag", "link", "train", "--as-of", TRAIN_AT],
        "link run": ["riskflag", "link", "run", "--as-of", TRAIN_AT],
        "train": ["riskflag", "train", "--as-of", TRAIN_AT],
        "promote": ["riskflag", "promote"],
        "nightly": ["riskflag", "nightly", "--as-of", NIGHT],
    }.items():
        cmd = [str(bin_ / args[0]), *args[1:]]
        if args[0] == "riskflag":
            cmd += ["--config", str(config)]
        results[name] = subprocess.run(
            cmd, cwd=tmp, env=env, capture_output=True, text=True, umask=0o000, timeout=900
        )
    return Installed(bin_, council, config, council / "riskflag runs", results)


def _ok(installed: Installed, *names: str) -> None:
    for name in names:
        r = installed.results[name]
        assert r.returncode == 0, f"{name} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def test_the_wheel_runs_validate_and_link_from_outside_the_checkout(installed: Installed) -> None:
    _ok(installed, "where", "validate", "link train", "link run")
    where = Path(installed.results["where"].stdout.strip())
    assert installed.bin.parent in where.parents, f"riskflag imported from {where}, not the wheel"
    assert ROOT not in where.parents
    assert (installed.runs / "warehouse.duckdb").is_file()
    assert any(installed.runs.glob("*-link-*/linkage.json"))


def test_a_folder_with_an_apostrophe_and_a_space_runs_every_stage(installed: Installed) -> None:
    _ok(installed, "validate", "link train", "link run", "train", "promote", "nightly")
    night = installed.runs / "nightly" / NIGHT
    assert (night / "cohort.csv").is_file() and (night / "manifest.json").is_file()
    assert list(night.glob("list-*.html"))


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_personal_data_is_owner_only_under_a_permissive_umask(installed: Installed) -> None:
    _ok(installed, "validate", "link run", "nightly")
    night = installed.runs / "nightly" / NIGHT
    personal = [
        *night.glob("list-*.html"),
        night / "cohort.csv",
        night / "cohort.parquet",
        installed.runs / "warehouse.duckdb",
        *installed.runs.glob("*-validate-*/quarantine.csv"),
        *installed.runs.glob("*-link-*/review.csv"),
    ]
    assert len(personal) >= 6
    loose = {str(p.relative_to(installed.runs)): oct(_mode(p)) for p in personal if _mode(p) & 0o077}
    assert not loose, f"readable by others: {loose}"
    for folder in (night, installed.runs):
        assert not _mode(folder) & 0o077, f"{folder} is {oct(_mode(folder))}"
