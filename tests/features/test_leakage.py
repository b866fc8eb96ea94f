"""No feature at an as-of date depends on what the council learnt later.

The 2k council's warehouse is linked, and its history replayed so that the linkage as it stood
at t is on record. Then the raw deliveries are cut: from each source's history extract every
row the council knew after t is removed (every later version of a record with it), the file is
dated t as if riskflag had gone live then, and the later deliveries, all made after t, are left
out. That council is validated, linked with the same person model and featured at t from
scratch. For every household whose linkage is the same in both (the same property and the same
people, each made of the same identities among those the earlier data holds), the features must
be identical; households whose linkage changed because later records were missing are counted,
and must be few. Built instead from today's linkage of the whole history (no replay), many more
households differ: that is what the replay is for.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskflag import features as fb
from riskflag import ingest
from riskflag.ingest.deliveries import delivery_date
from riskflag.ingest.pipeline import validate_council
from riskflag.ingest.warehouse import open_warehouse
from riskflag.linkage.pipeline import latest_model, link_council, replay_council, train_council

T = date(2025, 3, 31)
AS_OF = date(2026, 10, 31)
REFERENCE = ("llpg", "area_deprivation")  # taken as they now stand, by design


def _features_and_keys(cfg) -> pd.DataFrame:
    with open_warehouse(cfg.warehouse) as con:
        fs = fb.build(con, [T])
        feats = con.execute(f"SELECT * FROM {fs.table}").df()
        linked = con.execute(f"SELECT point_in_time FROM {fs.linkage.linked_at}").fetchall()
        keys = con.execute(f"""
            WITH known_identities AS (
                SELECT p.person_id, string_agg(p.identity_id, ',' ORDER BY p.identity_id) AS idents
                FROM {fs.linkage.persons} p SEMI JOIN _known_identities k USING (identity_id) GROUP BY 1
            )
            SELECT m.household_id, m.uprn,
                   list(coalesce(f.idents, 'unknown by t') ORDER BY f.idents) AS people
            FROM {fs.members} m LEFT JOIN known_identities f USING (person_id)
            GROUP BY ALL
        """).df()
    keys["key"] = keys["uprn"] + "|" + keys["people"].map(lambda p: ";".join(p))
    return feats.merge(keys[["household_id", "key"]], on="household_id"), linked == [(True,)]


def _cut_extracts(source_folder: Path, warehouse: Path, t: date, out: Path) -> dict[str, int]:
    """The deliveries as they would have been at t: rows known after t removed by what the
    warehouse says each raw row is (an exact duplicate goes with the row it repeats; a row
    the warehouse quarantined stays, to be quarantined again). Returns rows removed per source."""
    removed = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for folder in sorted(p for p in source_folder.iterdir() if p.is_dir()):
            source = folder.name
            (out / source).mkdir(parents=True)
            files = sorted(folder.glob("*.csv"))
            if source in REFERENCE:
                shutil.copy(files[0], out / source / f"{source}_{t}.csv")
                continue
            history = [f for f in files if "_history_to_" in f.name]
            assert len(history) == 1, (source, files)
            for later in files:
                assert later == history[0] or delivery_date(later, r"(\d{4}-\d{2}-\d{2})") > t, later
            if source == "contacts":
                shutil.copy(history[0], out / source / f"{source}_history_to_{t}.csv")
                continue
            keep = dict(
                con.execute(
                    f"SELECT _row, {ingest.known(source)} <= DATE '{t}' "
                    f"FROM history_{source} WHERE _file = ?",
                    [f"{source}/{history[0].name}"],
                ).fetchall()
            )
            header, *lines = history[0].read_bytes().splitlines(keepends=True)
            by_text = {lines[r - 1]: k for r, k in keep.items()}
            kept = [line for i, line in enumerate(lines, 1) if keep.get(i, by_text.get(line, True))]
            (out / source / f"{source}_history_to_{t}.csv").write_bytes(header + b"".join(kept))
            removed[source] = len(lines) - len(kept)
    return removed


@pytest.fixture(scope="module")
def compared(validated_2k, council_2k: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg, _, _ = validated_2k
    tmp_path = tmp_path_factory.mktemp("leakage")
    train_council(cfg, AS_OF)
    link_council(cfg, AS_OF, full=True)
    # t reached incrementally from a month earlier, as a replay over the history reaches it
    replay_council(cfg, [date(2025, 2, 28), T, AS_OF])
    today = cfg.model_copy(update={"output_folder": tmp_path / "today"})
    (tmp_path / "today").mkdir()
    shutil.copy(cfg.warehouse, today.warehouse)
    with open_warehouse(today.warehouse) as con:
        con.execute(
            "DROP TABLE link_history_runs; DROP TABLE link_history_persons; DROP TABLE link_history_members"
        )
    removed = _cut_extracts(council_2k / "extracts", cfg.warehouse, T, tmp_path / "extracts")
    assert all(removed[s] > 0 for s in ("council_tax", "benefits", "homelessness_cases")), removed
    early = cfg.model_copy(update={"output_folder": tmp_path / "runs", "data_folder": tmp_path / "extracts"})
    run, _ = validate_council(early, T)
    assert run.status == "ok", run.excluded
    # linked as riskflag would have linked at t, with only what the council knew by then
    link_council(early, T, model=latest_model(cfg), full=True)
    with open_warehouse(early.warehouse) as con:
        known = con.execute("SELECT identity_id FROM link_identities").df()
        for source in removed:
            late = f"SELECT count(*) FROM history_{source} WHERE {ingest.known(source)} > DATE '{T}'"
            assert con.execute(late).fetchall() == [(0,)], f"{source}: rows known after t were ingested"
    for c in (cfg, early, today):
        with open_warehouse(c.warehouse) as con:
            con.register("_k", known)
            con.execute("CREATE OR REPLACE TABLE _known_identities AS SELECT * FROM _k")
    (later, replayed), (earlier, _) = _features_and_keys(cfg), _features_and_keys(early)
    assert replayed, "the replay should have put the linkage at t on record"
    same = later.merge(earlier, on="key", suffixes=("_later", "_early"))
    (now, point_in_time) = _features_and_keys(today)
    assert not point_in_time
    return same, 1 - len(same) / len(later), 1 - len(now.merge(earlier, on="key")) / len(now)


def test_features_at_t_ignore_what_came_later(compared) -> None:
    same, changed, _ = compared
    assert len(same) > 1000
    diffs = {
        f: int((same[f"{f}_later"].fillna(-1) != same[f"{f}_early"].fillna(-1)).sum())
        for f in fb.FEATURES
        if (same[f"{f}_later"].fillna(-1) != same[f"{f}_early"].fillna(-1)).any()
    }
    assert not diffs, f"{sorted(diffs.items())} ({changed:.2%} linked differently)"


def test_few_households_are_linked_differently_for_want_of_later_records(compared) -> None:
    _, changed, _ = compared
    assert changed < 0.005, f"{changed:.2%} of households linked differently"


def test_todays_linkage_of_the_whole_history_would_link_many_differently(compared) -> None:
    """Without the linkage history, features at t come from a linkage that knows later records:
    the measure above would fail, which is why training needs `riskflag link replay`."""
    _, changed, without_history = compared
    assert without_history > 0.01 and without_history > 3 * changed, (without_history, changed)
