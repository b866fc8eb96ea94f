"""The command line: help that reads well, and one clear line for errors a user can cause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "riskflag", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "synth" in r.stdout and "demo" in r.stdout and "homelessness" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ("synth", "--out", "x", "--start", "2021-13"),
            "--start: expected a month as YYYY-MM; got '2021-13'",
        ),
        (("synth", "--out", "x", "--households", "5"), "--households"),
        (("synth", "--out", "x", "--months", "10"), "--months"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert needle in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr


def test_synth_writes_a_council_and_says_where(tmp_path: Path) -> None:
    r = run("synth", "--out", str(tmp_path / "c"), "--households", "400", "--months", "26", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "extracts" / "council_tax").is_dir()
    assert (tmp_path / "c" / "truth" / "oracle.parquet").is_file()
    assert not (tmp_path / "c.partial").exists()
    assert "Extracts:" in r.stdout and "Truth:" in r.stdout


def test_bad_config_names_file_key_and_expectation(tmp_path: Path) -> None:
    from riskflag.config import load_config
    from riskflag.errors import ConfigError

    good = (ROOT / "configs" / "council.yaml").read_text()
    cases = {
        "horizon_days: 182": ("horizon_days: 90", "horizon_days", "90"),
        "capacity: 40, wards: []}\n  - {name: Prevention South": (
            "capacity: -3, wards: []}\n  - {name: Prevention South",
            "teams.0.capacity",
            "-3",
        ),
        "council:\n": ("council:\n  colour: blue\n", "council.colour", "unknown key"),
        "  contacts:\n    path:": ("  contact:\n    path:", "sources", "unknown source 'contact'"),
    }
    for old, (new, key, expect) in cases.items():
        assert old in good, old
        bad = tmp_path / "council.yaml"
        bad.write_text(good.replace(old, new, 1))
        with pytest.raises(ConfigError) as err:
            load_config(bad)
        msg = str(err.value)
        assert msg.startswith(str(bad)), msg
        assert key in msg and expect in msg, msg
        assert "\n" not in msg


def test_config_loads_and_resolves_folders() -> None:
    from riskflag.config import load_config

    cfg = load_config(ROOT / "configs" / "council.yaml")
    assert cfg.data_folder == (ROOT / "demo" / "council" / "extracts").resolve()
    assert cfg.horizon_days == 182 and len(cfg.sources) == 13
    assert cfg.sources["council_tax"].values["recovery_stage"]["LO"] == "liability_order"


def test_missing_config_file(tmp_path: Path) -> None:
    from riskflag.config import load_config
    from riskflag.errors import ConfigError

    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_unwritable_output_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = run("synth", "--out", str(blocker / "council"), "--households", "300", "--months", "26")
    assert r.returncode == 2
    assert "--out: cannot write to" in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    r = run("synth", "--out", str(blocker), "--households", "300", "--months", "26")
    assert r.returncode == 2 and "is a file, not a folder" in " ".join(r.stderr.split())


def test_validate_prints_the_summary_and_exits_by_critical_sources(tmp_path: Path) -> None:
    from tests.ingest.test_bad_inputs import Council, asb_row, good_ct

    c = Council(tmp_path, ("council_tax", "asb_incidents"))
    c.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", [asb_row(1)], delimiter="|")
    r = run("validate", "--config", str(c.cfg_path), "--as-of", "2026-10-31")
    assert r.returncode == 0, r.stderr
    assert "Validation as of 2026-10-31: OK" in r.stdout and "council_tax" in r.stdout
    assert "Rows conserved (read = accepted + quarantined + held): yes" in r.stdout
    report = next((tmp_path / "out" / "runs").glob("2026-10-31-validate-*/validation.html"))
    assert report.is_file() and "Traceback" not in r.stderr

    c.write("council_tax", "council_tax_2026-10-31.csv", raw=b"")  # a critical source now fails
    r = run("validate", "--config", str(c.cfg_path), "--as-of", "2026-10-31")
    assert r.returncode == 1
    assert "STOPPED" in r.stdout and "the file is empty" in r.stdout


def test_validate_rejects_a_bad_as_of_date(tmp_path: Path) -> None:
    r = run("validate", "--as-of", "31/10/2026")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --as-of: expected a date as YYYY-MM-DD; got '31/10/2026'"


def test_link_review_says_where_and_refuses_a_bad_decision(tmp_path: Path) -> None:
    from tests.conftest import council_config

    cfg = council_config(tmp_path / "extracts", tmp_path)
    r = run("link", "review", "--config", str(cfg))
    assert r.returncode == 2 and "no review file yet; run `riskflag link run` first" in " ".join(
        r.stderr.split()
    )
    reviewed = tmp_path / "review.csv"
    reviewed.write_text("identity_1,identity_2,decision\na,b,same\nc,d,maybe\n", encoding="utf-8")
    r = run("link", "review", "--config", str(cfg), "--apply", str(reviewed))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "line 3: decision 'maybe' is not understood" in " ".join(r.stderr.split())
    reviewed.write_text("identity_1,identity_2,decision\na,b,same\nc,d,\n", encoding="utf-8")
    r = run("link", "review", "--config", str(cfg), "--apply", str(reviewed), "--reviewer", "J. Doe")
    assert r.returncode == 0, r.stderr
    assert "Recorded 1 same-person and 0 different-people decisions (1 left blank" in " ".join(
        r.stdout.split()
    )
    assert "J. Doe" in (tmp_path / "runs" / "linkage" / "overrides.csv").read_text()


def test_link_replay_before_validation_is_one_clear_line(tmp_path: Path) -> None:
    from tests.conftest import council_config

    cfg = council_config(tmp_path / "extracts", tmp_path)
    r = run("link", "replay", "--config", str(cfg), "--as-of", "2026-10-31")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "run `riskflag validate` first" in " ".join(r.stderr.split())
