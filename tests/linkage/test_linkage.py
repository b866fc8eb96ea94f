"""Person linkage on the 2k council (trained on it, run on it, judged against its truth) and
on hand-made cases scored with that model."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskflag.ingest.warehouse import open_warehouse
from riskflag.linkage import link_council, people, train_council
from riskflag.linkage import mentions as men
from riskflag.linkage.evaluate import evaluate_linkage
from riskflag.linkage.households import build_households
from riskflag.linkage.residence import build_residence

AS_OF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def linked(validated_2k, tmp_path_factory: pytest.TempPathFactory):
    """On a copy of the validated warehouse, so that other modules' links do not count as earlier
    runs here."""
    import shutil

    cfg, _, _ = validated_2k
    own = tmp_path_factory.mktemp("linked")
    cfg = cfg.model_copy(update={"output_folder": own})
    shutil.copy(validated_2k[0].warehouse, cfg.warehouse)
    with open_warehouse(cfg.warehouse) as con:
        for name, kind in con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE 'link_%'"
        ).fetchall():
            con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")
    trained = train_council(cfg, AS_OF)
    first = link_council(cfg, AS_OF)
    second = link_council(cfg, AS_OF)
    return cfg, trained, first, second


def test_quality_against_the_truth(linked, council_2k: Path) -> None:
    cfg, _, _, _ = linked
    with open_warehouse(cfg.warehouse) as con:
        res = evaluate_linkage(con, council_2k / "truth", thresholds=(cfg.linkage.cluster_at,))
    records = res["thresholds"][str(cfg.linkage.cluster_at)]["records"]
    # the targets are 0.995 / 0.98; recall is short of it (see docs/linkage.md): these
    # floors guard what stands (0.9997 / 0.964 when written)
    assert records["pairwise_precision"] >= 0.995, records
    assert records["pairwise_recall"] >= 0.95, records
    assert res["addresses"]["matched_to_true_uprn"] >= 0.99
    assert res["addresses"]["out_of_borough_matched"] <= 0.005
    # people at quarter ends, grouped by home: 0.985 / 0.943 when written (target 0.98 / 0.98)
    assert res["households"]["bcubed_precision"] >= 0.975, res["households"]
    assert res["households"]["bcubed_recall"] >= 0.93, res["households"]["households"]


def test_model_and_report_hold_no_names(linked) -> None:
    cfg, trained, _, _ = linked
    text = trained.model.read_text() + (trained.model.parent / "training_report.json").read_text()
    with open_warehouse(cfg.warehouse) as con:
        names = [
            r[0] for r in con.execute("SELECT DISTINCT surname FROM link_identities LIMIT 200").fetchall()
        ]
    assert names and not [n for n in names if f'"{n}"' in text or f"'{n}'" in text]


def test_person_ids_are_stable_when_nothing_changed(linked) -> None:
    _, _, first, second = linked
    assert first.ids_new == first.persons and first.ids_kept == 0
    assert (second.ids_kept, second.ids_new, second.merges, second.splits) == (first.persons, 0, 0, 0)


def test_every_mention_keeps_a_person_and_unmatched_addresses_are_kept(linked) -> None:
    cfg, _, first, _ = linked
    with open_warehouse(cfg.warehouse) as con:
        mentions, xref = con.execute(
            "SELECT (SELECT count(*) FROM link_mentions), (SELECT count(*) FROM link_person_xref)"
        ).fetchall()[0]
        unmatched = con.execute(
            "SELECT count(*) FROM link_addresses WHERE uprn IS NULL AND unmatched_reason IS NOT NULL"
        ).fetchall()[0][0]
    assert mentions == xref == first.mentions
    assert unmatched == first.addresses - first.addresses_matched > 0


def _ids(rows: list[tuple]) -> pd.DataFrame:
    cols = ["identity_id", "forename", "surname", "dob", "nino", "uprn"]
    df = pd.DataFrame(rows, columns=cols)
    nick = {"BILL": "WILLIAM"}
    df["forename_canon"] = df["forename"].map(lambda f: nick.get(f, f))
    df["postcode"] = None
    df["full_name"] = df["forename_canon"] + " " + df["surname"]
    df["since"] = pd.NaT
    df["until"] = pd.NaT
    df["companion"] = None
    df["companion_key"] = None
    df["adult_from"] = pd.NaT
    return df


CASES = {
    "nickname": (
        [
            ("a", "WILLIAM", "JONES", "1975-05-05", None, "U1"),
            ("b", "BILL", "JONES", "1975-05-05", None, "U1"),
        ],
        True,
    ),
    "swapped": (
        [
            ("a", "WILLIAM", "JONES", "1975-05-05", None, "U1"),
            ("b", "JONES", "WILLIAM", "1975-05-05", None, "U1"),
        ],
        True,
    ),
    "typo_and_transposed_dob": (
        [
            ("a", "REBECCA", "MYERS", "1985-04-07", None, "U1"),
            ("b", "ERBECCA", "MYERS", "1985-07-04", None, "U1"),
        ],
        True,
    ),
    "same_common_name_close_birthdays": (
        [("a", "JOHN", "SMITH", "1980-01-01", None, "U1"), ("b", "JOHN", "SMITH", "1980-03-15", None, "U2")],
        False,
    ),
    "different_nino": (
        [
            ("a", "JOHN", "SMITH", "1980-01-01", "AB123456C", "U1"),
            ("b", "JOHN", "SMITH", "1980-01-01", "CD654321A", "U1"),
        ],
        False,
    ),
}


# other people, so that term frequencies have something to count against
PAD = [
    (f"p{i}", f"NAME{i}", f"FAMILY{i % 7}", f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9}", None, f"V{i}")
    for i in range(60)
]


@pytest.mark.parametrize("case", sorted(CASES))
def test_pair_case(linked, case: str) -> None:
    _, trained, _, _ = linked
    rows, same = CASES[case]
    # padding people give the term frequencies something to count against
    pad = [
        (f"p{i}", f"NAME{i}", f"FAMILY{i % 7}", f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9}", None, f"V{i}")
        for i in range(60)
    ]
    ids = _ids(rows + pad)
    scored = people.score(ids, trained.model, keep_above=0.5)
    got = people.cluster(ids, scored.pairs, cluster_at=0.95).set_index("identity_id")["cluster_id"]
    assert bool(got["a"] == got["b"]) is same


def test_a_couple_who_move_are_found_by_each_other_whatever_the_spelling(linked) -> None:
    """A council-tax payer without a date of birth, misspelt at the new home, with the same
    partner, whose forename and surname were swapped there: the companion finds the pair (no
    other blocking rule would compare them) and links it."""
    _, trained, _, _ = linked
    ids = _ids(
        [
            ("a", "CONOR", "HUMPHREYS", None, None, "U1"),
            ("b", "CNOOR", "HUMPHREYS", None, None, "U2"),
            *PAD,
        ]
    )
    moved = {
        "a": (pd.Timestamp("2015-01-31"), pd.Timestamp("2025-03-23"), "DAWN ARMSTRONG"),
        "b": (pd.Timestamp("2025-03-25"), pd.NaT, "ARMSTRONG DAWN"),
    }
    for i, (since, until, companion) in moved.items():
        row = ids["identity_id"] == i
        ids.loc[row, ["since", "until", "companion"]] = [since, until, companion]
        ids.loc[row, "companion_key"] = " ".join(sorted(companion.split()))
    scored = people.score(ids, trained.model, keep_above=0.5)
    got = people.cluster(ids, scored.pairs, cluster_at=0.8).set_index("identity_id")["cluster_id"]
    assert got["a"] == got["b"]
    as_written = ids.assign(companion_key=ids["companion"])  # the check can fail: no pair at all
    pairs = people.score(as_written, trained.model, keep_above=0.0).pairs
    assert not ((pairs["identity_id_l"] == "a") & (pairs["identity_id_r"] == "b")).any()


def test_records_without_a_date_of_birth_do_not_chain_people() -> None:
    """A parent and a child of the same name at one home, and council-tax records of that name
    without a date of birth that fit both: each joins one person, never bridges the two."""
    ids = pd.DataFrame(
        {
            "identity_id": ["parent", "child", "ct", "ct_old", "other"],
            "dob": ["1977-05-12", "2010-06-15", None, None, None],
        }
    )
    edges = pd.DataFrame(
        [("parent", "ct", 20.0), ("child", "ct", 15.0), ("ct", "ct_old", 18.0), ("other", "ct_old", 2.0)],
        columns=["identity_id_l", "identity_id_r", "match_weight"],
    )
    got = people.anchored_clusters(ids, edges).set_index("identity_id")["cluster_id"]
    assert got["parent"] != got["child"]
    assert got["ct"] == got["parent"]  # its strongest link
    assert got["ct_old"] == got["other"] == got["parent"]  # through the record that joined
    plain = people.anchored_clusters(ids.assign(dob="2000-01-01"), edges)  # the check can fail:
    assert plain["cluster_id"].nunique() == 1  # with dates everywhere, the edges chain all five


def _council_tax_mentions(con: duckdb.DuckDBPyConnection, nicknames: str, uprn: str) -> str:
    """SQL: the mentions of the council-tax rows in table ct, with these nicknames and one UPRN
    in the gazetteer."""
    raw = men.raw_mentions_select("council_tax", men.SOURCES["council_tax"], "SELECT * FROM ct")
    con.execute(f"CREATE TABLE raw AS {raw}")
    con.execute(
        "CREATE TABLE nick AS SELECT CAST(nickname AS VARCHAR) AS nickname, "
        f"CAST(usual AS VARCHAR) AS usual FROM ({nicknames})"
    )
    con.execute("CREATE TABLE addr (address VARCHAR, postcode VARCHAR, uprn VARCHAR)")
    return men.mentions_select("raw", "nick", "addr", f"SELECT '{uprn}' AS uprn")


def test_joint_names_are_split_and_the_dob_is_the_first_persons() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE ct AS SELECT * FROM (VALUES ('A1', 'SHAH, Rosemary & Ashley', DATE '1979-06-07', "
        "'', '100000000001', DATE '2025-11-30', DATE '2019-04-01', NULL::DATE, DATE '2025-12-01', false)) "
        "t(account_ref, liable_name_1, liable_dob_1, liable_name_2, uprn, balance_date, account_start, "
        "account_end, _delivered_on, single_person_discount)"
    )
    sql = _council_tax_mentions(con, "SELECT 'ASH' AS nickname, 'ASHLEY' AS usual", "100000000001")
    got = con.execute(
        f"SELECT record, slot, forename, surname, dob, uprn, since FROM ({sql}) ORDER BY slot"
    ).fetchall()
    assert got == [
        ("A1", 1, "ROSEMARY", "SHAH", "1979-06-07", "100000000001", date(2019, 4, 1)),
        ("A1", 11, "ASHLEY", "SHAH", None, "100000000001", date(2019, 4, 1)),
    ]


def test_a_single_person_discount_says_the_others_named_do_not_live_there() -> None:
    """An account naming a second liable person while it has a single person discount: the
    second person is still named (evidence of who they are) but not placed there, except in the
    months without the discount; the payer lives there throughout."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE ct AS SELECT * FROM (VALUES "
        "('A1', 'SHAH, Rosemary', 'Ashley Shah', DATE '2025-09-30', false), "
        "('A1', 'SHAH, Rosemary', 'Ashley Shah', DATE '2025-10-31', true), "
        "('A1', 'SHAH, Rosemary', 'Ashley Shah', DATE '2025-11-30', true), "
        "('A2', 'COLE, Ann & Bob', '', DATE '2025-11-30', true)) "
        "t(account_ref, liable_name_1, liable_name_2, balance_date, single_person_discount)"
    )
    con.execute(
        "ALTER TABLE ct ADD COLUMN liable_dob_1 DATE; ALTER TABLE ct ADD COLUMN uprn VARCHAR DEFAULT '1'; "
        "ALTER TABLE ct ADD COLUMN account_start DATE; ALTER TABLE ct ADD COLUMN account_end DATE; "
        "ALTER TABLE ct ADD COLUMN _delivered_on DATE DEFAULT DATE '2025-12-01'"
    )
    sql = _council_tax_mentions(con, "SELECT NULL AS nickname, NULL AS usual WHERE false", "1")
    got = con.execute(
        f"SELECT record, slot, forename, first_seen, last_seen, lived_first, lived_last, alone_first "
        f"FROM ({sql}) ORDER BY record, slot"
    ).fetchall()
    d = date.fromisoformat
    assert got == [
        ("A1", 1, "ROSEMARY", d("2025-09-30"), d("2025-11-30"), d("2025-09-30"), d("2025-11-30"), None),
        (
            "A1",
            2,
            "ASHLEY",
            d("2025-09-30"),
            d("2025-11-30"),
            d("2025-09-30"),
            d("2025-09-30"),
            d("2025-10-31"),
        ),
        ("A2", 1, "ANN", d("2025-11-30"), d("2025-11-30"), d("2025-11-30"), d("2025-11-30"), None),
        ("A2", 11, "BOB", d("2025-11-30"), d("2025-11-30"), None, None, d("2025-11-30")),
    ]


def _mentions(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """link_mentions from (identity, uprn, first seen, last seen, since, until, died) rows, each
    known when first seen and placing its person there throughout."""
    con.execute(
        "CREATE OR REPLACE TABLE link_mentions (source VARCHAR, record VARCHAR, slot INTEGER, "
        "identity_id VARCHAR, uprn VARCHAR, first_seen DATE, last_seen DATE, records BIGINT, since DATE, "
        "until DATE, died DATE, first_known DATE, lived_first DATE, lived_last DATE, alone_first DATE, "
        "alone_known DATE)"
    )
    con.executemany(
        "INSERT INTO link_mentions VALUES ('s', ?, 1, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, NULL, NULL)",
        [(f"r{i}", *r, r[2], r[2], r[3]) for i, r in enumerate(rows)],
    )
    con.execute(
        "CREATE OR REPLACE TABLE link_identities AS "
        "SELECT DISTINCT identity_id, NULL::VARCHAR AS dob FROM link_mentions"
    )


def test_a_person_who_moves_lives_in_each_home_in_turn() -> None:
    con = duckdb.connect()
    d = date.fromisoformat
    _mentions(
        con,
        [
            ("i1", "U1", d("2024-01-31"), d("2024-02-29"), None, None, None),
            ("i2", "U2", d("2024-03-31"), d("2024-05-31"), None, None, None),
            ("i3", "U3", d("2024-04-30"), d("2024-04-30"), None, None, None),
        ],
    )
    con.execute(
        "CREATE TABLE link_persons AS SELECT * FROM (VALUES ('i1', 'P1'), ('i2', 'P1'), ('i3', 'P2')) "
        "t(identity_id, person_id)"
    )
    build_residence(con)
    got = con.execute("SELECT person_id, uprn, valid_from, valid_to FROM link_residence").fetchall()
    assert got == [
        ("P1", "U1", d("2024-01-31"), d("2024-03-31")),
        ("P1", "U2", d("2024-03-31"), None),
        ("P2", "U3", d("2024-04-30"), None),
    ]


def test_a_child_lives_with_the_family_from_birth_or_from_its_arrival() -> None:
    """A child first on record at school age lived with the people found at that home before:
    from birth, or from when they arrived; an adult first on record later is not backdated."""
    con = duckdb.connect()
    d = date.fromisoformat
    _mentions(
        con,
        [
            ("mum", "U1", d("2021-11-30"), d("2026-10-31"), d("2016-05-01"), None, None),
            ("kid", "U1", d("2024-09-01"), d("2026-09-01"), None, None, None),
            ("dad", "U2", d("2022-03-31"), d("2026-10-31"), d("2022-03-01"), None, None),
            ("kid2", "U2", d("2025-01-01"), d("2026-09-01"), None, None, None),
            ("lodger", "U1", d("2025-06-30"), d("2026-10-31"), None, None, None),
        ],
    )
    con.execute(
        "UPDATE link_identities SET dob = CASE identity_id WHEN 'kid' THEN '2018-02-03' "
        "WHEN 'kid2' THEN '2019-07-08' WHEN 'lodger' THEN '1990-01-01' END"
    )
    con.execute(
        "CREATE TABLE link_persons AS "
        "SELECT identity_id, upper(identity_id) AS person_id FROM link_identities"
    )
    build_residence(con)
    got = dict(con.execute("SELECT person_id, valid_from FROM link_residence").fetchall())
    assert got["KID"] == d("2018-02-03")  # born after the family came
    assert got["KID2"] == d("2022-03-01")  # born before the family came
    assert got["LODGER"] == d("2025-06-30")  # an adult: from their first record
    assert got["MUM"] == d("2016-05-01")


def test_people_move_with_the_people_they_lived_with() -> None:
    """A child first on the new school's roll a term after the family's new tenancy began moved
    with the family; a lodger still on record at the old home after the family left did not."""
    con = duckdb.connect()
    d = date.fromisoformat
    _mentions(
        con,
        [
            ("mum", "U1", d("2021-11-30"), d("2024-06-30"), d("2018-04-01"), d("2024-07-09"), None),
            ("mum2", "U2", d("2024-07-31"), d("2026-10-31"), d("2024-07-10"), None, None),
            ("kid", "U1", d("2021-09-01"), d("2024-04-01"), None, None, None),
            ("kid2", "U2", d("2024-09-01"), d("2026-09-01"), None, None, None),
            ("lodger", "U1", d("2021-11-30"), d("2024-12-31"), None, None, None),
            ("lodger2", "U2", d("2025-03-31"), d("2026-10-31"), None, None, None),
        ],
    )
    con.execute(
        "CREATE TABLE link_persons AS SELECT identity_id, upper(replace(identity_id, '2', '')) AS person_id "
        "FROM link_identities"
    )
    build_residence(con)
    got = {
        (p, u): (f, t)
        for p, u, f, t in con.execute(
            "SELECT person_id, uprn, valid_from, valid_to FROM link_residence"
        ).fetchall()
    }
    assert got[("MUM", "U2")] == (d("2024-07-10"), None)
    assert got[("KID", "U1")][1] == d("2024-07-10") and got[("KID", "U2")] == (d("2024-07-10"), None)
    assert got[("LODGER", "U1")][1] == d("2025-03-31") and got[("LODGER", "U2")][0] == d("2025-03-31")


def test_people_never_found_again_moved_with_the_people_they_lived_with() -> None:
    """A partner and a child whom no record names after the family's move moved with it, and
    someone who died later lived there until their death. People stay when someone they lived
    with is still on record at the old home after the move, when those they lived with went to
    different homes, or when their next home came much later."""
    con = duckdb.connect()
    d = date.fromisoformat
    start, open_ = d("2021-11-30"), None
    _mentions(
        con,
        [
            ("mum", "U1", start, d("2024-06-30"), d("2018-04-01"), d("2024-07-09"), None),
            ("mum2", "U2", d("2024-07-31"), d("2026-10-31"), d("2024-07-10"), open_, None),
            ("dad", "U1", start, d("2024-03-31"), None, None, None),
            ("kid", "U1", start, d("2024-04-01"), None, None, None),
            ("ann", "U3", start, d("2024-04-30"), None, d("2024-05-01"), None),
            ("ann2", "U4", d("2024-05-31"), d("2026-10-31"), d("2024-05-01"), open_, None),
            ("bob", "U3", start, d("2025-01-31"), None, None, None),
            ("cat", "U3", start, d("2024-02-29"), None, None, None),
            ("dee", "U5", start, d("2024-04-30"), None, d("2024-05-01"), None),
            ("dee2", "U6", d("2024-05-31"), d("2026-10-31"), d("2024-05-01"), open_, None),
            ("eve", "U5", start, d("2024-05-31"), None, d("2024-06-01"), None),
            ("eve2", "U7", d("2024-06-30"), d("2026-10-31"), d("2024-06-01"), open_, None),
            ("fay", "U5", start, d("2024-03-31"), None, None, None),
            ("gus", "U8", start, d("2024-04-30"), None, None, None),
            ("gus2", "U9", d("2025-05-31"), d("2026-10-31"), d("2025-05-01"), open_, None),
            ("hal", "U8", start, d("2024-03-31"), None, None, None),
            ("jo", "U10", start, d("2024-04-30"), None, d("2024-05-01"), None),
            ("jo2", "U11", d("2024-05-31"), d("2026-10-31"), d("2024-05-01"), open_, None),
            ("ian", "U10", start, d("2024-03-31"), None, None, d("2024-09-30")),
        ],
    )
    # from May 2024 the account names gus only as someone who does not live there
    con.execute(
        "INSERT INTO link_mentions VALUES ('s', 'spd', 2, 'gus', 'U8', DATE '2024-05-31', DATE '2026-10-31', "
        "1, NULL, NULL, NULL, DATE '2024-05-31', NULL, NULL, DATE '2024-05-31', DATE '2024-05-31')"
    )
    con.execute(
        "CREATE TABLE link_persons AS SELECT identity_id, upper(replace(identity_id, '2', '')) AS person_id "
        "FROM link_identities"
    )
    build_residence(con)
    got = {
        p: stays
        for p, stays in con.execute(
            "SELECT person_id, list((uprn, valid_from, valid_to, known_from, end_known) ORDER BY valid_from) "
            "FROM link_residence GROUP BY 1"
        ).fetchall()
    }
    moved, known = d("2024-07-10"), d("2024-07-31")  # the family's move, and when its new home was on record
    for person in ("DAD", "KID"):  # (uprn, valid_from, valid_to, known_from, end_known)
        assert got[person] == [("U1", start, moved, start, known), ("U2", moved, None, known, None)]
    assert got["BOB"] == [("U3", start, None, start, None)]
    assert got["CAT"] == [("U3", start, None, start, None)]
    assert got["FAY"] == [("U5", start, None, start, None)]
    assert got["GUS"][0][:3] == ("U8", start, d("2024-05-01"))
    assert got["HAL"] == [("U8", start, None, start, None)]  # gus left, but had no home for a year
    assert [x[:3] for x in got["IAN"]] == [
        ("U10", start, d("2024-05-01")),
        ("U11", d("2024-05-01"), d("2024-09-30")),
    ]


def test_a_parent_without_a_birth_date_is_not_their_namesake_child(linked) -> None:
    """A council-tax payer without a date of birth and a schoolchild of the same name at the
    same home: never one person, as a child cannot have been named on the account."""
    _, trained, _, _ = linked
    ids = _ids(
        [
            ("payer", "JANET", "BURNS", None, None, "U1"),
            ("child", "JANET", "BURNS", "2014-01-08", None, "U1"),
            ("tenant", "JANET", "BURNS", "1992-11-11", None, "U1"),
            *PAD,
        ]
    )
    adult = pd.Series({"payer": pd.Timestamp("2021-11-30"), "tenant": pd.Timestamp("2021-11-30")})
    with_age = ids.assign(adult_from=ids["identity_id"].map(adult))
    pairs = people.score(with_age, trained.model, keep_above=0.01).pairs.set_index(
        ["identity_id_l", "identity_id_r"]
    )
    assert not pairs.loc[("child", "payer"), "plausible"]
    assert pairs.loc[("payer", "tenant"), "plausible"]
    blind = people.score(ids.assign(adult_from=pd.NaT), trained.model, keep_above=0.01).pairs
    assert blind.set_index(["identity_id_l", "identity_id_r"]).loc[
        ("child", "payer"), "plausible"
    ]  # can fail
    got = people.cluster(with_age, people.score(with_age, trained.model, 0.5).pairs, 0.8)
    c = got.set_index("identity_id")["cluster_id"]
    assert c["payer"] != c["child"]


MEMBERS = (
    "SELECT household_id, person_id, uprn, valid_from, valid_to FROM link_household_members "
    "ORDER BY uprn, valid_from, person_id"
)


def test_households_follow_who_lives_where() -> None:
    """An account says when a stay began and ended; a move makes a new household at the new
    home and leaves the old one to whoever stays; a death ends a stay; a new occupant after
    everyone has left is a new household."""
    con = duckdb.connect()
    d = date.fromisoformat
    far = d("9999-12-31")
    _mentions(
        con,
        [
            # a couple at U1 (council tax since 2019); B moves to U2 in March 2024
            ("a", "U1", d("2021-11-30"), d("2026-10-31"), d("2019-05-01"), far, None),
            ("b", "U1", d("2021-11-30"), d("2024-02-29"), d("2019-05-01"), far, None),
            ("b2", "U2", d("2024-03-31"), d("2026-10-31"), d("2024-03-10"), far, None),
            # C at U3 until the account closed; D moves in after
            ("c", "U3", d("2021-11-30"), d("2023-06-30"), d("2015-01-01"), d("2023-06-20"), None),
            ("d", "U3", d("2023-08-31"), d("2026-10-31"), d("2023-08-01"), far, None),
            # E at U4, whose death is registered in 2025
            ("e", "U4", d("2021-11-30"), d("2025-04-30"), None, None, None),
            ("e_death", "U4", d("2025-04-02"), d("2025-04-02"), None, None, d("2025-04-02")),
        ],
    )
    con.execute(
        "CREATE TABLE link_persons AS SELECT * FROM (VALUES ('a', 'PA'), ('b', 'PB'), ('b2', 'PB'), "
        "('c', 'PC'), ('d', 'PD'), ('e', 'PE'), ('e_death', 'PE')) t(identity_id, person_id)"
    )
    build_residence(con)
    first = build_households(con, "run1")
    members = con.execute(MEMBERS).fetchall()
    by_person = {(m[1], m[2]): m for m in members}
    assert by_person[("PA", "U1")][0] == by_person[("PB", "U1")][0]  # one household at U1
    assert by_person[("PB", "U1")][4] == d("2024-03-10")  # B left U1 when the U2 account began
    assert by_person[("PB", "U2")][3] == d("2024-03-10") and by_person[("PB", "U2")][4] is None
    assert by_person[("PC", "U3")][4] == d("2023-06-20")  # the account's end
    assert by_person[("PD", "U3")][0] != by_person[("PC", "U3")][0]  # a new household after C left
    assert by_person[("PE", "U4")][4] == d("2025-04-02")  # the death
    households = con.execute("SELECT count(*) FROM link_households").fetchall()[0][0]
    assert households == 5 and first["new"] == 5
    again = build_households(con, "run2")  # the same people: the same household ids
    assert (again["kept"], again["new"], again["merges"], again["splits"]) == (5, 0, 0, 0)
    assert con.execute(MEMBERS).fetchall() == members


def test_overrides_must_link_and_cannot_link() -> None:
    """A must-link joins two identities no score linked; a cannot-link separates two that a chain
    of strong links put together, cutting the weakest link between them."""
    ids = pd.DataFrame(
        {
            "identity_id": ["a", "b", "c", "x", "y"],
            "dob": ["1980-01-01", "1980-01-01", "1980-01-01", None, "1990-02-02"],
        }
    )
    pairs = pd.DataFrame(
        [("a", "b", 20.0, 0.999, True), ("b", "c", 12.0, 0.97, True), ("x", "y", 3.0, 0.5, True)],
        columns=["identity_id_l", "identity_id_r", "match_weight", "match_probability", "plausible"],
    )
    plain = people.cluster(ids, pairs, 0.95).set_index("identity_id")["cluster_id"]
    assert plain["a"] == plain["b"] == plain["c"] and plain["x"] != plain["y"]
    overrides = pd.DataFrame(
        [("a", "c", "cannot_link"), ("x", "y", "must_link")], columns=["identity_1", "identity_2", "decision"]
    )
    got = people.cluster(ids, pairs, 0.95, overrides).set_index("identity_id")["cluster_id"]
    assert got["a"] == got["b"] != got["c"]  # the weaker b-c link is the one cut
    assert got["x"] == got["y"]


def test_a_review_decision_becomes_an_override(tmp_path: Path) -> None:
    from riskflag.errors import UserError
    from riskflag.linkage.overrides import apply_review, read_overrides

    reviewed = tmp_path / "review.csv"
    reviewed.write_text(
        "match_probability,identity_1,identity_2,decision,note\n"
        "0.9,id2,id1,same,same DOB on the tenancy file\n0.85,id3,id4,Different,\n0.82,id5,id6,,\n",
        encoding="utf-8",
    )
    path = tmp_path / "linkage" / "overrides.csv"
    done = apply_review(reviewed, path, "A. Analyst", date(2026, 11, 30))
    assert (done.must_link, done.cannot_link, done.pending, done.overrides) == (1, 1, 1, 2)
    got = read_overrides(path)
    assert got[["identity_1", "identity_2", "decision", "reviewer"]].values.tolist() == [
        ["id1", "id2", "must_link", "A. Analyst"],
        ["id3", "id4", "cannot_link", "A. Analyst"],
    ]
    reviewed.write_text("identity_1,identity_2,decision\nid1,id2,different\n", encoding="utf-8")
    apply_review(reviewed, path, "B. Senior", date(2026, 12, 1))  # the latest decision wins
    assert read_overrides(path).set_index("identity_1").loc["id1", "decision"] == "cannot_link"
    reviewed.write_text("identity_1,identity_2,decision\nid1,id2,perhaps\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2: decision 'perhaps' is not understood"):
        apply_review(reviewed, path, "C", date(2026, 12, 1))
