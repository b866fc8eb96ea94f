"""A council whose folders are named like real ones ("St John's data"): the link stage reads its
own nickname list from there, and is evaluated against a truth folder and compared with a
warehouse kept there; and what it writes is readable by its owner only, whatever the umask it
was started under."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from riskflag.ingest import open_warehouse
from riskflag.linkage import apply_review, compare_runs, evaluate_linkage, link_council, train_council

AS_OF = date(2026, 10, 31)
USUAL = "QQQ"  # a usual form no real list has: identities carrying it were resolved by the council's list


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def linked(validated_2k, council_2k: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg, _, _ = validated_2k
    root = tmp_path_factory.mktemp("paths")
    place = root / "St John's data"  # the council's own files, and where it keeps copies
    place.mkdir()
    own = root / "runs"  # the warehouse's folder is ingest's to open (tests/ingest)
    own.mkdir()
    shutil.copy(cfg.warehouse, own / "warehouse.duckdb")
    with open_warehouse(own / "warehouse.duckdb") as con:
        for name, kind in con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE 'link_%'"
        ).fetchall():
            con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")
        name = con.execute(
            "SELECT upper(forename) FROM history_education "
            "WHERE regexp_full_match(upper(forename), '[A-Z]+') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchall()[0][0]
    shipped = (resources.files("riskflag.linkage") / "nicknames.csv").read_text(encoding="utf-8").splitlines()
    rows = [r for r in shipped[1:] if r.split(",")[0] != name]
    nicknames = place / "our nick names.csv"
    nicknames.write_text("\n".join([shipped[0], *rows, f"{name},{USUAL}"]) + "\n", encoding="utf-8")
    cfg = cfg.model_copy(
        update={"output_folder": own, "linkage": cfg.linkage.model_copy(update={"nicknames": nicknames})}
    )
    truth = place / "the truth"
    shutil.copytree(council_2k / "truth", truth)
    umask = os.umask(0o022)  # as cron and most services start a job: files world-readable by default
    try:
        trained = train_council(cfg, AS_OF)
        summary = link_council(cfg, AS_OF)
    finally:
        os.umask(umask)
    return cfg, place, name, truth, trained, summary


def test_a_council_nickname_list_under_a_quoted_path_is_used(linked) -> None:
    cfg, _, name, _, _, summary = linked
    assert "'" in str(cfg.linkage.nicknames) and " " in str(cfg.linkage.nicknames)
    assert summary.persons > 1000
    with open_warehouse(cfg.warehouse) as con:
        canon = con.execute(
            "SELECT DISTINCT forename_canon FROM link_identities WHERE forename = ?", [name]
        ).fetchall()
    assert canon == [(USUAL,)]


def test_evaluation_and_comparison_under_a_quoted_path(linked) -> None:
    cfg, place, _, truth, _, summary = linked
    copy = place / "a copy of the warehouse.duckdb"
    shutil.copy(cfg.warehouse, copy)
    with open_warehouse(cfg.warehouse) as con:
        got = compare_runs(con, copy)
        res = evaluate_linkage(con, truth, thresholds=(cfg.linkage.cluster_at,))
    assert got["records_agreeing"] == 1.0 and got["record_rows_compared"] == summary.mention_rows
    assert got["unchanged_people_keeping_id"] == 1.0
    assert res["thresholds"][str(cfg.linkage.cluster_at)]["records"]["pairwise_precision"] >= 0.995


def test_run_folder_model_and_overrides_are_owner_only(linked, tmp_path: Path) -> None:
    cfg, _, _, _, trained, summary = linked
    folder = Path(summary.outputs["review.csv"]).parent
    assert _mode(folder) == 0o700
    for name in ("review.csv", "linkage.json", "manifest.json"):
        assert _mode(folder / name) == 0o600, name
    assert _mode(trained.model) == 0o600 and _mode(trained.model.parent / "training_report.json") == 0o600
    reviewed = tmp_path / "reviewed.csv"
    reviewed.write_text("identity_1,identity_2,decision\nid1,id2,same\n", encoding="utf-8")
    overrides = cfg.linkage.overrides_path(cfg)
    umask = os.umask(0o022)
    try:
        apply_review(reviewed, overrides, "A. Analyst", AS_OF)
    finally:
        os.umask(umask)
    assert _mode(overrides) == 0o600


def test_the_shipped_nickname_list_is_package_data(validated_2k) -> None:
    from riskflag.linkage.collect import nickname_list

    cfg, _, _ = validated_2k
    assert cfg.linkage.nicknames is None
    shipped = nickname_list(cfg)
    assert shipped.name == "nicknames.csv" and shipped.is_file()
    assert shipped.read_text(encoding="utf-8").startswith("nickname,usual\n")
