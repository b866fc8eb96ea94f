"""The scheduled pipelines call commands and options that exist (a renamed command must fail
here, not at 02:30 in a council's server room)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskflag.cli import app

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def _calls() -> list[tuple[str, list[str]]]:
    calls = []
    for f in sorted(PIPELINES.rglob("*")):
        if f.suffix == ".sh":
            for line in f.read_text().splitlines():
                m = re.match(r'\s*(?:exec\s+)?"\$RISKFLAG"\s+(.*)', line)
                if m:
                    calls.append((f.name, shlex.split(m.group(1).split("${")[0])))
        elif f.suffix == ".py":
            for m in re.finditer(r'_cmd\(f?"([^"]+)"\)', f.read_text()):
                calls.append((f.name, m.group(1).split()))
    return calls


def test_every_pipeline_command_and_option_exists() -> None:
    calls = _calls()
    assert {f for f, _ in calls} == {"nightly.sh", "train.sh", "riskflag_dags.py"}
    runner = CliRunner()
    for where, words in calls:
        command = [
            w for w in words if not w.startswith("-") and not w.startswith("{") and not w.startswith('"')
        ]
        options = [w for w in words if w.startswith("--")]
        res = runner.invoke(app, [*command, "--help"])
        assert res.exit_code == 0, f"{where}: riskflag {' '.join(command)} ({res.output})"
        for o in options:
            assert o in res.output, f"{where}: riskflag {' '.join(command)} has no option {o}"


@pytest.mark.parametrize("script", ["nightly.sh", "train.sh"])
def test_scripts_parse_and_refuse_to_run_without_a_config(script: str) -> None:
    assert subprocess.run(["bash", "-n", str(PIPELINES / script)]).returncode == 0
    res = subprocess.run(
        ["bash", str(PIPELINES / script)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert res.returncode != 0 and "RISKFLAG_CONFIG" in res.stderr
