"""The warehouse: a DuckDB file holding every accepted row ever delivered, and what happened to
every delivery and every quarantined row.

History is append-only: each accepted row keeps the delivery it came in and the date it was
delivered, so a later version of a current-state record (a case that closed) sits beside the
earlier one, and `known_at` rebuilds exactly what the council knew on any past date.

Each field's clean value sits beside `<field>__raw`, the text as the source sent it where that
differs from the clean value written as text (a date in the source's format, a lower-case
postcode, a system's code); NULL there means the clean value is what was sent, or it was blank.
The text as sent is `coalesce("<field>__raw", CAST("<field>" AS VARCHAR))`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from riskflag.contracts import Contract, load_contract
from riskflag.core import files, sql
from riskflag.core.lock import exclusive

SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DECIMAL(14,2)",
    "date": "DATE",
    "boolean": "BOOLEAN",
}
META = {
    "_file": "VARCHAR",
    "_row": "BIGINT",
    "_delivered_on": "DATE",
    "_loaded_on": "DATE",
    "_run_id": "VARCHAR",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, as_of DATE, status VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS deliveries (
    run_id VARCHAR, source VARCHAR, name VARCHAR, sha256 VARCHAR, size BIGINT, mtime_ns BIGINT,
    delivered_on DATE, status VARCHAR, rule VARCHAR, message VARCHAR,
    rows_read BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT, rows_held BIGINT, volume DOUBLE
);
CREATE TABLE IF NOT EXISTS quarantine (
    run_id VARCHAR, source VARCHAR, name VARCHAR, delivered_on DATE, "row" BIGINT,
    field VARCHAR, rule VARCHAR, value VARCHAR
);
"""


def history_table(source: str) -> str:
    return f"history_{source}"


def history_columns(contract: Contract) -> dict[str, str]:
    cols = {}
    for f in contract.fields:
        cols[f.name] = SQL_TYPES[f.logical_type]
        cols[f"{f.name}__raw"] = "VARCHAR"
    return cols | META


@contextmanager
def open_warehouse(path: Path, memory_limit: str = "2GB") -> Iterator[duckdb.DuckDBPyConnection]:
    """One writer at a time: a kernel lock (released even on SIGKILL) guards the file. The
    warehouse holds personal data, so it and its folder are owner-only whatever the umask."""
    files.private_dir(path.parent)
    with exclusive(path.with_suffix(".lock"), f"another riskflag run writing {path.name}"):
        con = duckdb.connect(str(path))
        try:
            files.make_private(path)
            con.execute(f"SET memory_limit = {sql.string(memory_limit)}")
            con.execute(f"SET temp_directory = {sql.path(path.parent / (path.name + '.tmp'))}")
            con.execute(f"SET threads = {sql.integer(max(1, os.cpu_count() or 1))}")
            con.execute(SCHEMA)
            yield con
        finally:
            con.close()


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[
            0
        ][0]
    )


def ensure_history(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the source's history table, adding columns a newer contract has introduced."""
    table = history_table(contract.name)
    cols = history_columns(contract)
    if not table_exists(con, table):
        body = ", ".join(f"{sql.ident(c)} {t}" for c, t in cols.items())
        con.execute(f"CREATE TABLE {table} ({body})")
        return
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    for c, t in cols.items():
        if c not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {sql.ident(c)} {t}")


def known_at_sql(contract: Contract, as_of: date) -> str:
    """What the council knew on as_of: every row delivered by then, and for a keyed record
    (a case, an account's monthly balance) only its latest version delivered by then."""
    table = history_table(contract.name)
    cutoff = sql.day(as_of)
    if not contract.key:
        return f"SELECT * FROM {table} WHERE _delivered_on <= {cutoff}"
    part = ", ".join(sql.ident(k) for k in contract.key)
    known = f"{sql.ident(contract.known_date_field)} DESC NULLS LAST, " if contract.known_date_field else ""
    return (
        f"SELECT * EXCLUDE (_version) FROM (SELECT *, row_number() OVER (PARTITION BY {part} "
        f"ORDER BY _delivered_on DESC, {known}_file DESC, _row DESC) AS _version "
        f"FROM {table} WHERE _delivered_on <= {cutoff}) WHERE _version = 1"
    )


def term_start(term: str) -> str:
    """SQL: the day a school term ("2025-26 AUT", "2025-26 SPR", "2025-26 SUM") starts."""
    return (
        f"make_date(CAST(substr({term}, 1, 4) AS INTEGER) + CASE WHEN {term} LIKE '%AUT' THEN 0 ELSE 1 END, "
        f"CASE WHEN {term} LIKE '%AUT' THEN 9 WHEN {term} LIKE '%SPR' THEN 1 ELSE 4 END, 1)"
    )


# when the council knew a row, where the contract's known-date field does not say (SQL, given
# the table's alias prefix)
KNOWN_OTHERWISE: dict[str, Callable[[str], str]] = {
    # a term's record is complete when the term ends
    "education": lambda a: f"CAST({term_start(a + 'term')} + INTERVAL 120 DAY AS DATE)",
}


def known(source: str, alias: str = "") -> str:
    """SQL: the day the council knew a row of source (never after riskflag received it)."""
    c = load_contract(source)
    a = f"{alias}." if alias else ""
    otherwise = KNOWN_OTHERWISE.get(source)
    if c.known_date_field:
        field: str | None = f"{a}{sql.ident(c.known_date_field)}"
    else:
        field = otherwise(a) if otherwise else None
    return f"least({a}_delivered_on, coalesce({field}, {a}_delivered_on))" if field else f"{a}_delivered_on"


def deliveries_in_force(con: duckdb.DuckDBPyConnection, as_of: date) -> list[dict]:
    """Each source's latest accepted delivery by as_of, for the manifest."""
    in_force = con.execute(
        """
        SELECT source, arg_max(name, (delivered_on, name)) AS latest, max(delivered_on) AS delivered_on,
               arg_max(sha256, (delivered_on, name)) AS sha256, count(*) AS accepted_deliveries
        FROM deliveries WHERE status = 'accepted' AND delivered_on <= ?
        GROUP BY 1 ORDER BY 1
        """,
        [as_of],
    ).df()
    return json.loads(in_force.to_json(orient="records", date_format="iso"))
