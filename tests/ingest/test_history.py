"""The warehouse keeps history: a current-state record that changes keeps its earlier version,
and the history read at an earlier as-of date shows what was known then."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from riskflag.contracts.contract import load_contract
from riskflag.ingest.warehouse import known_at_sql
from tests.ingest.test_bad_inputs import Council, hc_row


def test_an_overwritten_case_keeps_its_earlier_version(tmp_path: Path) -> None:
    c = Council(tmp_path, ("homelessness_cases",))
    c.write("homelessness_cases", "homelessness_cases_2026-09-01.csv", [hc_row(1), hc_row(2)])
    assert c.validate(date(2026, 9, 1)).status == "ok"
    closed = hc_row(1, OUTCOME="PREV_STAY", CLOSE_DATE="20/10/2026", RECORD_UPDATED="21/10/2026")
    c.write("homelessness_cases", "homelessness_cases_2026-10-21.csv", [closed])
    assert c.validate(date(2026, 10, 21)).status == "ok"

    versions = c.history("homelessness_cases", "case_ref, outcome, close_date, _delivered_on")
    assert [(v[0], v[1], v[3].isoformat()) for v in versions] == [
        ("HC0000001", "open", "2026-09-01"),
        ("HC0000002", "open", "2026-09-01"),
        ("HC0000001", "prevented_stayed", "2026-10-21"),
    ]
    contract = load_contract("homelessness_cases")
    con = duckdb.connect(str(tmp_path / "out" / "runs" / "warehouse.duckdb"), read_only=True)

    def known(as_of: date) -> list[tuple]:
        sql = f"SELECT case_ref, outcome, close_date FROM ({known_at_sql(contract, as_of)}) ORDER BY case_ref"
        return con.execute(sql).fetchall()

    assert known(date(2026, 10, 1)) == [("HC0000001", "open", None), ("HC0000002", "open", None)]
    assert known(date(2026, 10, 21)) == [
        ("HC0000001", "prevented_stayed", date(2026, 10, 20)),
        ("HC0000002", "open", None),
    ]
    assert known(date(2026, 8, 31)) == []


def test_a_changed_redelivery_under_the_same_name_replaces_its_rows(tmp_path: Path) -> None:
    c = Council(tmp_path, ("homelessness_cases",))
    c.write("homelessness_cases", "homelessness_cases_2026-10-31.csv", [hc_row(1), hc_row(2)])
    c.validate()
    c.write("homelessness_cases", "homelessness_cases_2026-10-31.csv", [hc_row(1), hc_row(2), hc_row(3)])
    run = c.validate()
    assert run.sources[0].deliveries[0].rows_accepted == 3
    assert [r[0] for r in c.history("homelessness_cases", "case_ref")] == [
        "HC0000001",
        "HC0000002",
        "HC0000003",
    ]
