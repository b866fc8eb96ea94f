"""The structure `make lint` keeps: stages depend one way (import-linter's contract in
pyproject.toml) and packages meet only at their interfaces (tools/check_structure.py). Each check
is run on a copy of the source with a deliberate breach, to show it fails when it should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "riskflag", tmp_path / "src" / "riskflag")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where / "src")}
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"], cwd=where, env=env, capture_output=True, text=True
    )


def _check_structure(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_structure.py"), str(where / "src" / "riskflag")],
        capture_output=True,
        text=True,
    )


def test_the_import_contract_holds_and_fails_on_a_reverse_import(copy: Path) -> None:
    kept = _lint_imports(copy)
    assert kept.returncode == 0, kept.stdout[-2000:]
    assert "0 broken" in kept.stdout
    with open(copy / "src" / "riskflag" / "core" / "sql.py", "a") as fh:
        fh.write("\nimport riskflag.scoring  # a deliberate reverse import\n")
    broken = _lint_imports(copy)
    assert broken.returncode != 0
    assert "Stages depend one way BROKEN" in broken.stdout
    assert "riskflag.core.sql -> riskflag.scoring" in broken.stdout


def test_the_synthetic_council_is_kept_out_of_the_stages(copy: Path) -> None:
    with open(copy / "src" / "riskflag" / "features" / "dates.py", "a") as fh:
        fh.write("\nimport riskflag.synth  # a deliberate use of the simulation by a stage\n")
    broken = _lint_imports(copy)
    assert broken.returncode != 0
    assert "imported only by the CLI and jobs BROKEN" in broken.stdout


def test_packages_meet_only_at_their_interfaces(copy: Path) -> None:
    clean = _check_structure(copy)
    assert clean.returncode == 0, clean.stdout
    src = copy / "src" / "riskflag"
    with open(src / "scoring" / "explain.py", "a") as fh:
        fh.write("\nfrom riskflag.features.household import _members  # noqa\n")
        fh.write("\nfrom riskflag.linkage.people import cluster  # noqa\n")
    with open(src / "modeling" / "metrics.py", "a") as fh:
        fh.write("\n\ndef _long() -> None:\n" + "    x = 1\n" * 85)
        fh.write("\n\ndef _peek(cfg: object) -> object:\n    return cfg._path  # type: ignore\n")
    broken = _check_structure(copy)
    assert broken.returncode == 1
    out = broken.stdout
    assert "imports private riskflag.features.household._members" in out
    assert "imports riskflag.linkage.people: use the interface riskflag.linkage" in out
    assert "_long is 86 lines (at most 80)" in out
    assert "reaches into a private attribute, ._path" in out


def test_the_type_checker_is_clean(tmp_path: Path) -> None:
    """mypy over src/riskflag with the settings in pyproject.toml, as `make lint` runs it."""
    r = subprocess.run(
        [str(BIN / "mypy"), "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:]
