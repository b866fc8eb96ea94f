"""Validation against the synthetic council's truth: realistic faults pass and are standardised
to the true values; every impossible value and repeated row is quarantined under its rule."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskflag.synth.faults import FAULT_BITS

IMPOSSIBLE = FAULT_BITS["impossible_value"]
DUPLICATE = FAULT_BITS["duplicate_row"]
# the rule each source's impossible values must be quarantined under (the synth's own choices)
IMPOSSIBLE_RULES = {
    "council_tax": {("arrears", "out_of_range"), ("recovery_stage", "unmapped_code")},
    "rent_accounts": {("arrears", "out_of_range")},
    "benefits": {("claimant_dob", "after_entry_date")},
    "homelessness_cases": {("reason", "unmapped_code")},
}
EVENT_DATE = {
    "council_tax": "balance_date",
    "rent_accounts": "snapshot_date",
    "benefits": "event_date",
    "homelessness_cases": "approach_date",
    "childrens_services": "referral_date",
    "adult_social_care": "start_date",
    "asb_incidents": "incident_date",
    "deaths": "date_of_death",
}


@pytest.fixture(scope="module")
def joined(council_2k: Path, validated_2k) -> duckdb.DuckDBPyConnection:
    cfg, _, _ = validated_2k
    con = duckdb.connect()
    con.execute(f"ATTACH '{cfg.warehouse}' AS w (READ_ONLY)")
    truth = council_2k / "truth"
    con.execute(f"CREATE TABLE ledger AS SELECT * FROM '{truth / 'fault_ledger.parquet'}'")
    con.execute(f"CREATE TABLE keys AS SELECT * FROM '{truth / 'record_keys.parquet'}'")
    con.execute(
        "CREATE TABLE outcome AS SELECT l.*, split_part(l.file, '/', 1) AS source, "
        "EXISTS (SELECT 1 FROM w.quarantine q WHERE q.name = l.file AND q.row = l.row) AS quarantined "
        "FROM ledger l"
    )
    return con


def test_every_ledger_row_was_read_and_accounted_for(joined: duckdb.DuckDBPyConnection, validated_2k) -> None:
    _, run, paths = validated_2k
    read = sum(d.rows_read for s in run.sources for d in s.deliveries)
    ledger_rows = joined.execute("SELECT count(*) FROM ledger").fetchall()[0][0]
    reference = sum(
        d.rows_read for s in run.sources if s.source in ("llpg", "area_deprivation") for d in s.deliveries
    )
    assert read - reference == ledger_rows
    assert run.status == "ok", [(s.source, s.message) for s in run.sources if s.message]
    for s in run.sources:
        for d in s.deliveries:
            if d.status == "already_loaded":  # the gazetteer re-sent unchanged; a quiet night's empty file
                first = next(x for x in s.deliveries if x.sha256 == d.sha256)
                assert first.status == "accepted" and d.message.startswith(f"identical to {first.name},")
                assert d.rows_read == 0
                continue
            assert d.status == "accepted", (d.name, d.message)
            assert d.rows_read == d.rows_accepted + d.rows_quarantined, d.name
    report = json.loads(paths["validation.json"].read_text())
    assert report["rows_conserved"] is True
    for s in report["sources"]:
        for d in s["deliveries"]:
            assert d["rows_read"] == d["rows_accepted"] + d["rows_quarantined"] + d["rows_held"]


def test_rows_with_only_realistic_faults_are_accepted(joined: duckdb.DuckDBPyConnection) -> None:
    by_source = joined.execute(
        f"SELECT source, count(*), sum(CASE WHEN quarantined THEN 0 ELSE 1 END) FROM outcome "
        f"WHERE faults & {IMPOSSIBLE | DUPLICATE} = 0 GROUP BY source ORDER BY source"
    ).fetchall()
    total = sum(n for _, n, _ in by_source)
    accepted = sum(a for _, _, a in by_source)
    assert total > 100_000
    assert accepted / total >= 0.995, by_source
    faulty = joined.execute(
        f"SELECT count(*), sum(CASE WHEN quarantined THEN 0 ELSE 1 END) FROM outcome "
        f"WHERE faults & {IMPOSSIBLE | DUPLICATE} = 0 AND (faults <> 0 OR faults_2 <> 0)"
    ).fetchall()[0]
    assert faulty[0] > 10_000 and faulty[1] / faulty[0] >= 0.995, faulty


def test_every_impossible_row_is_quarantined_under_its_rule(joined: duckdb.DuckDBPyConnection) -> None:
    rows = joined.execute(
        f"SELECT o.source, o.file, o.row, list(DISTINCT (q.field, q.rule)) FROM outcome o "
        f"LEFT JOIN w.quarantine q ON q.name = o.file AND q.row = o.row "
        f"WHERE o.faults & {IMPOSSIBLE} <> 0 AND o.faults & {DUPLICATE} = 0 GROUP BY ALL"
    ).fetchall()
    assert len(rows) > 100
    for source, file, row, found in rows:
        rules = {tuple(f) for f in found if f[1] is not None} if found else set()
        assert rules & IMPOSSIBLE_RULES[source], (source, file, row, rules)


def test_every_repeated_row_is_quarantined_as_a_duplicate(joined: duckdb.DuckDBPyConnection) -> None:
    missed = joined.execute(
        f"SELECT o.file, o.row FROM outcome o WHERE o.faults & {DUPLICATE} <> 0 AND NOT EXISTS "
        "(SELECT 1 FROM w.quarantine q WHERE q.name = o.file AND q.row = o.row AND q.rule = 'duplicate_row')"
    ).fetchall()
    dups = joined.execute(f"SELECT count(*) FROM outcome WHERE faults & {DUPLICATE} <> 0").fetchall()[0][0]
    assert dups > 100 and missed == []
    wrongly = joined.execute(
        f"SELECT count(*) FROM outcome o WHERE o.faults & {DUPLICATE} = 0 AND EXISTS "
        "(SELECT 1 FROM w.quarantine q WHERE q.name = o.file AND q.row = o.row AND q.rule = 'duplicate_row')"
    ).fetchall()[0][0]
    assert wrongly == 0


@pytest.mark.parametrize("source", sorted(EVENT_DATE))
def test_dates_in_any_format_are_read_as_the_true_date(
    joined: duckdb.DuckDBPyConnection, source: str
) -> None:
    field = EVENT_DATE[source]
    got = joined.execute(
        f"SELECT count(*), sum(CASE WHEN h.{field} = k.event_date THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN l.faults & {FAULT_BITS['date_format']} <> 0 THEN 1 ELSE 0 END) "
        f"FROM w.history_{source} h JOIN keys k ON k.file = h._file AND k.row = h._row "
        f"JOIN ledger l ON l.file = h._file AND l.row = h._row"
    ).fetchall()[0]
    assert got[0] > 0 and got[1] == got[0], (source, got)


def test_postcodes_are_standardised_to_the_gazetteers(joined: duckdb.DuckDBPyConnection) -> None:
    for source in ("benefits", "childrens_services", "adult_social_care", "education"):
        got = joined.execute(
            f"SELECT count(*), sum(CASE WHEN h.postcode = g.postcode THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN h.postcode__raw <> g.postcode THEN 1 ELSE 0 END) "
            f"FROM w.history_{source} h JOIN keys k ON k.file = h._file AND k.row = h._row "
            f"JOIN w.history_llpg g ON g.uprn = CAST(k.address_uprn AS VARCHAR) WHERE k.address_uprn >= 0"
        ).fetchall()[0]
        assert got[0] > 0 and got[1] == got[0], (source, got)
        assert got[2] > 0, f"{source}: no raw postcode differed; the format fault was not exercised"


def test_dates_of_birth_and_money_read_correctly(joined: duckdb.DuckDBPyConnection, council_2k: Path) -> None:
    persons = pd.read_parquet(
        council_2k / "truth" / "persons.parquet", columns=["person_id", "date_of_birth"]
    ).rename(columns={"date_of_birth": "dob"})
    joined.register("persons", persons)
    clean = FAULT_BITS["dob_missing"] | FAULT_BITS["dob_transposed"]
    got = joined.execute(
        f"SELECT count(*), sum(CASE WHEN h.claimant_dob = p.dob THEN 1 ELSE 0 END) FROM w.history_benefits h "
        f"JOIN keys k ON k.file = h._file AND k.row = h._row "
        f"JOIN ledger l ON l.file = h._file AND l.row = h._row "
        f"JOIN persons p ON p.person_id = k.person_id WHERE l.faults & {clean} = 0"
    ).fetchall()[0]
    assert got[0] > 1000 and got[1] == got[0], got
    money = joined.execute(
        f"SELECT count(*), sum(CASE WHEN h.arrears = CAST(replace(replace(h.arrears__raw, '£', ''), ',', '') "
        f"AS DECIMAL(14,2)) THEN 1 ELSE 0 END) FROM w.history_council_tax h "
        f"JOIN ledger l ON l.file = h._file AND l.row = h._row "
        f"WHERE l.faults & {FAULT_BITS['money_as_text']} <> 0 "
        f"AND h.arrears__raw LIKE '£%'"
    ).fetchall()[0]
    assert money[0] > 1000 and money[1] == money[0], money
