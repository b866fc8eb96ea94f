"""Incremental linking against a full relink: a month of new deliveries on the 2k council."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from riskflag.config import load_config
from riskflag.ingest.pipeline import validate_council
from riskflag.ingest.warehouse import open_warehouse
from riskflag.linkage import compare_runs, link_council, train_council
from tests.conftest import council_config

BEFORE, AFTER = date(2026, 9, 30), date(2026, 10, 31)


@pytest.fixture(scope="module")
def runs(council_2k: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("incremental")
    cfg = load_config(council_config(council_2k / "extracts", out))
    # a month apart, within the time a council lets pass between full relinks
    cfg = cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update={"full_relink_days": 62})})
    validate_council(cfg, BEFORE)
    train_council(cfg, BEFORE)
    first = link_council(cfg, BEFORE)
    shutil.copy(cfg.warehouse, out / "before.duckdb")
    validate_council(cfg, AFTER)
    incremental = link_council(cfg, AFTER)
    shutil.copy(cfg.warehouse, out / "incremental.duckdb")
    full = link_council(cfg, AFTER, full=True)
    return cfg, out, first, incremental, full


def test_a_later_run_is_incremental_and_scores_only_what_is_new(runs) -> None:
    _, _, first, incremental, full = runs
    assert (first.mode, incremental.mode, full.mode) == ("full", "incremental", "full")
    assert 0 < incremental.new_identities < full.new_identities / 10
    assert incremental.comparisons < full.comparisons / 5


def test_incremental_agrees_with_a_full_relink(runs) -> None:
    cfg, out, _, incremental, full = runs
    with open_warehouse(cfg.warehouse) as con:  # the full relink's links
        got = compare_runs(con, out / "incremental.duckdb")
    assert got["record_rows_compared"] == full.mention_rows == incremental.mention_rows
    assert got["records_agreeing"] >= 0.995, got


def test_unchanged_people_keep_their_ids(runs) -> None:
    _, out, _, _, _ = runs
    copy = out / "check.duckdb"
    shutil.copy(out / "incremental.duckdb", copy)
    with open_warehouse(copy) as con:
        got = compare_runs(con, out / "before.duckdb")
    assert got["unchanged_people"] > 1000
    assert got["unchanged_people_keeping_id"] >= 0.995, got


def test_a_changed_model_or_an_old_full_relink_forces_a_full_run(runs) -> None:
    cfg, _, _, _, _ = runs
    later = cfg.model_copy(update={"linkage": cfg.linkage.model_copy(update={"full_relink_days": 0})})
    assert link_council(later, date(2026, 11, 1)).mode == "full"
    assert link_council(cfg, date(2026, 11, 1)).mode == "incremental"
    retrained = train_council(cfg, AFTER)
    assert link_council(cfg, date(2026, 11, 1), model=retrained.model).mode == "full"
