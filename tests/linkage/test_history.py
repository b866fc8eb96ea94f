"""The linkage history: each run's people and households, kept so that features at a past date
see the linkage as it stood then."""

from __future__ import annotations

from datetime import date

import duckdb

from riskflag.linkage import history

D1, D2, D3 = date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)


def _linked(con: duckdb.DuckDBPyConnection, persons: dict[str, str], day: date) -> None:
    con.execute("CREATE OR REPLACE TABLE link_persons (identity_id VARCHAR, person_id VARCHAR)")
    con.executemany("INSERT INTO link_persons VALUES (?, ?)", list(persons.items()))
    con.execute("""
        CREATE OR REPLACE TABLE link_household_members AS
        SELECT 'H' || person_id AS household_id, person_id, 'U1' AS uprn, DATE '2020-01-01' AS valid_from,
               NULL::DATE AS valid_to, DATE '2020-01-01' AS known_from, NULL::DATE AS end_known
        FROM (SELECT DISTINCT person_id FROM link_persons)
    """)
    history.record(con, day)


def _persons_at(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, str]:
    rows = con.execute(
        "SELECT identity_id, person_id FROM link_history_persons WHERE linked_from <= ? "
        "AND (linked_until IS NULL OR linked_until > ?)",
        [day, day],
    ).fetchall()
    return dict(rows)


def test_each_run_is_kept_and_unchanged_rows_are_stored_once() -> None:
    con = duckdb.connect()
    first = {"a": "P1", "b": "P2"}
    _linked(con, first, D1)
    merged = {"a": "P1", "b": "P1", "c": "P3"}  # a later record joins b to a; c is new
    _linked(con, merged, D2)
    assert _persons_at(con, D1) == first
    assert _persons_at(con, D2) == merged
    assert _persons_at(con, D3) == merged  # no run since: still the last one
    assert con.execute("SELECT count(*) FROM link_history_persons WHERE identity_id = 'a'").fetchall() == [
        (1,)
    ]
    assert con.execute(
        "SELECT count(*) FROM link_history_members WHERE linked_from <= ? AND coalesce(linked_until, ?) > ?",
        [D1, D3, D1],
    ).fetchall() == [(2,)]


def test_a_run_at_an_earlier_date_takes_the_history_back_to_it() -> None:
    con = duckdb.connect()
    _linked(con, {"a": "P1"}, D1)
    _linked(con, {"a": "P1", "b": "P2"}, D2)
    _linked(con, {"a": "P9"}, D3)
    _linked(con, {"a": "P5"}, D2)  # a replay starting again at D2
    assert _persons_at(con, D1) == {"a": "P1"}
    assert _persons_at(con, D2) == {"a": "P5"}
    assert _persons_at(con, D3) == {"a": "P5"}
    assert [r[0] for r in con.execute("SELECT as_of FROM link_history_runs ORDER BY 1").fetchall()] == [
        D1,
        D2,
    ]


def test_a_date_counts_as_linked_then_only_with_a_recent_run() -> None:
    con = duckdb.connect()
    dates = "SELECT * FROM (VALUES (DATE '2024-12-31'), (DATE '2025-02-15'), (DATE '2025-06-30')) t(as_of)"
    assert not any(p for _, p in con.execute(history.linked_at_sql(con, dates)).fetchall())
    _linked(con, {"a": "P1"}, D1)
    got = dict(con.execute(history.linked_at_sql(con, dates)).fetchall())
    # before any run; within 31 days of one; long after the last (it would miss who came since)
    assert got == {date(2024, 12, 31): False, date(2025, 2, 15): True, date(2025, 6, 30): False}
