"""What every stage relies on: quoting that survives any text, writes that are whole and
owner-only under any umask, a lock that refuses a second holder, one formula rule."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from riskflag.core import files, sql
from riskflag.core.lock import Locked, exclusive
from riskflag.core.safe import FORMULA_PATTERN, formula_like, spreadsheet_safe

AWKWARD = [
    "St John's",
    'say "hi"',
    "a;b--c",
    "O’Brien",
    "back\\slash",
    "new\nline",
    "",
    "'); DROP TABLE x; --",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_a_string_literal_reads_back_as_the_same_text(text: str) -> None:
    con = duckdb.connect()
    assert con.execute(f"SELECT {sql.string(text)}").fetchone() == (text,)


@pytest.mark.parametrize("name", ["plain", "St John's", 'col"quoted', "with space"])
def test_an_identifier_names_the_column_it_was_given(name: str) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({sql.ident(name)} INTEGER)")
    assert [r[0] for r in con.execute("DESCRIBE t").fetchall()] == [name]


def test_paths_with_an_apostrophe_are_read_and_attached(tmp_path: Path) -> None:
    folder = tmp_path / "St John's data"
    folder.mkdir()
    csv = folder / "a b.csv"
    csv.write_text("x\n1\n2\n")
    con = duckdb.connect()
    assert con.execute(f"SELECT sum(x) FROM read_csv({sql.path(csv)})").fetchone() == (3,)
    other = folder / "other's.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t AS SELECT 7 AS v").close()
    con.execute(f"ATTACH {sql.path(other)} AS o (READ_ONLY)")
    assert con.execute("SELECT v FROM o.t").fetchone() == (7,)
    con.execute(f"SET temp_directory = {sql.path(folder / 'tmp')}")


def test_dates_and_integers_refuse_what_they_are_not() -> None:
    con = duckdb.connect()
    assert con.execute(f"SELECT {sql.day(date(2026, 2, 28))}").fetchone() == (date(2026, 2, 28),)
    with pytest.raises(TypeError):
        sql.day("2026-02-28")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sql.integer("3; DROP TABLE x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sql.integer(True)
    got = con.execute(sql.dates_table([date(2026, 1, 2), date(2025, 1, 1), date(2026, 1, 2)])).fetchall()
    assert got == [(date(2025, 1, 1),), (date(2026, 1, 2),)]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _fill(folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "f.csv").write_text("x")


def test_writes_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        one = files.write_text(tmp_path / "one.txt", "personal")
        made = files.folder(tmp_path, "out", _fill)
        private = files.private_dir(tmp_path / "wh")
    finally:
        os.umask(old)
    assert _mode(one) == 0o600 and one.read_text() == "personal"
    assert _mode(made) == 0o700 and _mode(made / "sub") == 0o700 and _mode(made / "sub" / "f.csv") == 0o600
    assert _mode(private) == 0o700


def test_a_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    files.folder(tmp_path, "run", lambda d: (d / "a.txt").write_text("first"))

    def half(d: Path) -> None:
        (d / "a.txt").write_text("second, half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        files.folder(tmp_path, "run", half)
    assert (tmp_path / "run" / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_second_holder_is_refused_with_the_path_and_pid(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    with (
        exclusive(lock, "another nightly run"),
        pytest.raises(Locked, match=rf"run.lock: another nightly run holds the lock \(pid {os.getpid()}\)"),
        exclusive(lock, "another nightly run"),
    ):
        pass
    with exclusive(lock):
        pass


@pytest.mark.parametrize(
    ("value", "formula"),
    [
        ('=HYPERLINK("http://x")', True), ("+44 1 Road", True), ("@SUM(A1)", True), ("-A1", True),
        ("\tcmd", True), ("\rcmd", True), ("-12.50", False), ("+5", False), ("1e6", False),
        ("Smith", False), ("3-4 High St", False), ("", False),
    ],
)  # fmt: skip
def test_one_formula_rule_for_validation_and_for_spreadsheets(value: str, formula: bool) -> None:
    assert formula_like(value) is formula
    assert spreadsheet_safe(value) == ("'" + value if formula else value)
    # validation runs the same pattern through pandas (Great Expectations' regex expectation)
    assert bool(pd.Series([value]).str.contains(FORMULA_PATTERN, regex=True).iloc[0]) is formula
