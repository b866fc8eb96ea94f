"""No feature at an as-of date depends on what the council learnt later.

The 2k council's warehouse is copied and every row the council knew after t (and so every
later version of a record) is deleted from it; the copy is linked again with the same model and
its features are built at t. For every household whose linkage is the same in both (the same
property and the same people, each made of the same identities among those the earlier data
holds), the
features must be identical; households whose linkage changed because later records were
missing are counted, and must be few.
"""

from __future__ import annotations

import shutil
from datetime import date

import pandas as pd
import pytest

from riskflag.config import SOURCE_NAMES
from riskflag.features import build as fb
from riskflag.ingest.warehouse import open_warehouse
from riskflag.linkage.pipeline import latest_model, link_council, train_council

T = date(2025, 3, 31)
AS_OF = date(2026, 10, 31)
REFERENCE = ("llpg", "area_deprivation")  # taken as they now stand, by design


def _features_and_keys(cfg) -> pd.DataFrame:
    with open_warehouse(cfg.warehouse) as con:
        fb.build(con, [T], out="_f")
        feats = con.execute("SELECT * FROM _f").df()
        keys = con.execute("""
            WITH known_identities AS (
                SELECT p.person_id, string_agg(p.identity_id, ',' ORDER BY p.identity_id) AS idents
                FROM link_persons p SEMI JOIN _known_identities k USING (identity_id) GROUP BY 1
            )
            SELECT m.household_id, m.uprn,
                   list(coalesce(f.idents, 'unknown by t') ORDER BY f.idents) AS people
            FROM _members m LEFT JOIN known_identities f USING (person_id)
            GROUP BY ALL
        """).df()
    keys["key"] = keys["uprn"] + "|" + keys["people"].map(lambda p: ";".join(p))
    return feats.merge(keys[["household_id", "key"]], on="household_id")


@pytest.fixture(scope="module")
def compared(validated_2k, tmp_path_factory: pytest.TempPathFactory):
    cfg, _, _ = validated_2k
    tmp_path = tmp_path_factory.mktemp("leakage")
    train_council(cfg, AS_OF)
    link_council(cfg, AS_OF, full=True)
    early = cfg.model_copy(update={"output_folder": tmp_path / "runs"})
    (tmp_path / "runs").mkdir()
    shutil.copy(cfg.warehouse, early.warehouse)
    with open_warehouse(early.warehouse) as con:
        for source in SOURCE_NAMES:
            if (
                source not in REFERENCE
                and con.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                    [f"history_{source}"],
                ).fetchall()[0][0]
            ):
                con.execute(f"DELETE FROM history_{source} WHERE {fb.known(source)} > DATE '{T}'")
        for table in ("link_runs", "link_persons", "link_features", "link_pairs"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    # linked as riskflag would on the last day, with only what the council knew by t left in it
    link_council(early, AS_OF, model=latest_model(cfg), full=True)
    with open_warehouse(early.warehouse) as con:
        known = con.execute("SELECT identity_id FROM link_identities").df()
    for c in (cfg, early):
        with open_warehouse(c.warehouse) as con:
            con.register("_k", known)
            con.execute("CREATE OR REPLACE TABLE _known_identities AS SELECT * FROM _k")
    later, earlier = _features_and_keys(cfg), _features_and_keys(early)
    same = later.merge(earlier, on="key", suffixes=("_later", "_early"))
    return same, 1 - len(same) / len(later)


def test_features_at_t_ignore_what_came_later(compared) -> None:
    same, changed = compared
    assert len(same) > 1000
    diffs = {
        f: int((same[f"{f}_later"].fillna(-1) != same[f"{f}_early"].fillna(-1)).sum())
        for f in fb.FEATURES
        if (same[f"{f}_later"].fillna(-1) != same[f"{f}_early"].fillna(-1)).any()
    }
    assert not diffs, f"{sorted(diffs.items())} ({changed:.2%} linked differently)"


@pytest.mark.xfail(
    strict=True,
    reason="issue 5 asks for under 0.5%; one linkage of the whole history links about 2.8% of the 2k "
    "council's households at t differently from a linkage of what was known at t (later records join "
    "a person's earlier identities, or show that someone moved with their family before t): features "
    "would need point-in-time linkage",
)
def test_few_households_are_linked_differently_for_want_of_later_records(compared) -> None:
    _, changed = compared
    assert changed < 0.005, f"{changed:.2%} of households linked differently"
