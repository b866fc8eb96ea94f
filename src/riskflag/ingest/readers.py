"""Read one delivery into a table of text, every row numbered as the data officer counts it.

Every column is read as text: typing is the standardiser's job, where a value that does not
parse becomes a quarantined row instead of a silently converted one. Rows are numbered from 1
after the header, so a report's "row 1234" is the 1234th data row of the file. Anything that
makes the whole delivery unusable raises DeliveryStop with a message a data officer can act on.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from riskflag.config import SourceConfig
from riskflag.ingest.deliveries import Delivery
from riskflag.ingest.problems import DeliveryStop, Reject

ROW = "_row"
MAGIC = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an old-style Office file (Excel .xls?)",
    b"%PDF": "a PDF document",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip archive",
}
DELIMITERS = {",": "comma", "|": "pipe", ";": "semicolon", "\t": "tab"}
ENCODING_SHARE = 0.01  # more rows than this with bytes of another encoding: the file's encoding is wrong


@dataclass
class Raw:
    """A delivery as read: text columns named as the source names them, plus _row."""

    table: pa.Table
    rows_read: int
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read(delivery: Delivery, sc: SourceConfig) -> Raw:
    if sc.format == "sql":
        return read_sql(sc)
    assert delivery.path is not None
    if not delivery.path.is_file():
        raise DeliveryStop("missing_file", f"{delivery.name} is no longer there")
    if sc.format == "parquet":
        return read_parquet(delivery.path)
    if sc.format == "excel":
        return read_excel(delivery.path, sc.sheet)
    return read_csv(delivery.path, sc)


def _numbered(table: pa.Table, rows: np.ndarray) -> pa.Table:
    return table.append_column(ROW, pa.array(rows, pa.int64()))


def _text(table: pa.Table) -> pa.Table:
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            cols.append(col)
        else:
            cols.append(pc.cast(col, pa.string()))
    return pa.table(cols, names=[str(n) for n in table.column_names])


def _looks_utf8(sample: bytes) -> bool:
    """Windows-1252 text with accents is almost never valid UTF-8; UTF-8 text always is."""
    if max(sample, default=0) < 0x80:
        return False
    cut = sample[: len(sample) - 4] if len(sample) > 4 else sample
    try:
        cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(cut) - 3  # only a multi-byte character cut at the sample's end
    return True


def _header(first: bytes, codec: str, delimiter: str) -> list[str]:
    line = first.decode(codec, errors="replace").rstrip("\r\n")
    return next(csv.reader([line], delimiter=delimiter), [])


def read_csv(path: Path, sc: SourceConfig) -> Raw:
    names, notes = _check_csv(path, sc)
    table, bad = _parse(path, names, sc, binary=False)
    enc: list[Reject] = []
    if table is None:  # bytes that are not valid in the declared encoding
        table, bad = _parse(path, names, sc, binary=True)
        assert table is not None
        table, enc = _bad_bytes(table, names)
    if bad and any(r.number is None for r in bad):
        _, bad = _parse(path, names, sc, binary=False, threads=False)
    rows_all = table.num_rows + len(bad)
    bad_rows = np.array(sorted(r.number - 1 for r in bad), dtype=np.int64)
    rows = np.setdiff1d(np.arange(1, rows_all + 1, dtype=np.int64), bad_rows, assume_unique=True)
    rejects = [
        Reject(
            int(r.number - 1),
            "",
            "wrong_field_count",
            f"{r.actual_columns} fields where the header has {r.expected_columns}: {r.text[:120]}",
        )
        for r in sorted(bad, key=lambda r: r.number)
    ]
    if enc:
        positions = sorted({x.row for x in enc})
        if len(positions) > max(1, ENCODING_SHARE * rows_all):
            first = enc[0]
            raise DeliveryStop(
                "wrong_encoding",
                f"{len(positions)} of {rows_all} rows hold bytes that are not {sc.encoding} (first: row "
                f"{rows[first.row]}, column {first.field}); is the file Windows-1252? Check the encoding",
            )
        rejects += [Reject(int(rows[x.row]), x.field, x.rule, x.value) for x in enc]
        keep = np.ones(table.num_rows, bool)
        keep[positions] = False
        table, rows = table.filter(pa.array(keep)), rows[keep]
    return Raw(_numbered(table, rows), rows_all, rejects, notes)


def _check_csv(path: Path, sc: SourceConfig) -> tuple[list[str], list[str]]:
    """Stop a file that is not the CSV the config describes (empty, binary, wrong encoding or
    delimiter, no or duplicated header, cut off); return its column names and notes."""
    size = path.stat().st_size
    if size == 0:
        raise DeliveryStop("empty_file", "the file is empty (0 bytes); ask the system owner to send it again")
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            raise DeliveryStop("not_a_csv", f"the file is {what}, not a CSV text file as its name says")
    if b"\x00" in head[:65536]:
        raise DeliveryStop("not_a_csv", "the file holds NUL bytes: it is binary or UTF-16, not CSV text")
    notes: list[str] = []
    bom = head.startswith(b"\xef\xbb\xbf")
    utf = sc.encoding != "cp1252"
    if bom and not utf:
        raise DeliveryStop(
            "wrong_encoding",
            "the file starts with a UTF-8 byte-order mark but the config says encoding cp1252; "
            "set the source's encoding to utf-8-sig",
        )
    if bom and sc.encoding == "utf-8":
        notes.append("a UTF-8 byte-order mark was found and ignored")
    if not utf and _looks_utf8(head):
        raise DeliveryStop(
            "wrong_encoding",
            "the file is UTF-8 but the config says encoding cp1252 (accented names would be garbled); "
            "set the source's encoding to utf-8",
        )
    codec = "utf-8-sig" if utf else "cp1252"
    names = _header(head.split(b"\n", 1)[0], codec, sc.delimiter)
    if not any(n.strip() for n in names):
        raise DeliveryStop("no_header", "the first line is blank: the file has no header row")
    if len(names) == 1 and len(sc.columns) > 1:
        for d, label in DELIMITERS.items():
            if d != sc.delimiter and d in names[0]:
                raise DeliveryStop(
                    "wrong_delimiter",
                    f"the header is one column {names[0][:60]!r}: the file looks {label}-delimited but "
                    f"the config says delimiter {sc.delimiter!r}",
                )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DeliveryStop("duplicate_column", f"the header names column {dupes[0]!r} more than once")
    if not tail.endswith(b"\n"):
        last = tail.rsplit(b"\n", 1)[-1]
        cells = _header(last, codec, sc.delimiter)
        if last.count(b'"') % 2 == 1 or len(cells) != len(names):
            raise DeliveryStop(
                "truncated_file",
                "the file ends part-way through a row: the extract was cut off; ask for it again",
            )
    return names, notes


def _parse(
    path: Path, names: list[str], sc: SourceConfig, binary: bool, threads: bool = True
) -> tuple[pa.Table | None, list]:
    bad: list = []

    def skip(row) -> str:
        bad.append(row)
        return "skip"

    kind = pa.binary() if binary else pa.string()
    try:
        table = pv.read_csv(
            path,
            read_options=pv.ReadOptions(
                encoding="utf8" if sc.encoding != "cp1252" else "cp1252",
                use_threads=threads,
                block_size=1 << 24,
                skip_rows=1,
                column_names=names,
            ),
            parse_options=pv.ParseOptions(
                delimiter=sc.delimiter, newlines_in_values=True, invalid_row_handler=skip
            ),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(names, kind),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if not binary and "UTF8" in str(exc):
            return None, []
        raise DeliveryStop(
            "unreadable_csv", f"the file cannot be read as CSV ({str(exc).splitlines()[0]})"
        ) from None
    except UnicodeDecodeError as exc:
        raise DeliveryStop(
            "wrong_encoding",
            f"byte {exc.object[exc.start : exc.start + 1]!r} is not {sc.encoding}: check the encoding",
        ) from None
    return table, bad


def _bad_bytes(table: pa.Table, names: list[str]) -> tuple[pa.Table, list[Reject]]:
    """Decode a binary read; values that are not UTF-8 become rejects, by position in the table."""
    rejects: list[Reject] = []
    cols = []
    for name, col in zip(names, table.columns, strict=True):
        try:
            cols.append(pc.cast(col, pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        values = col.to_pylist()
        fixed = []
        for i, v in enumerate(values):
            try:
                fixed.append(v.decode("utf-8"))
            except UnicodeDecodeError:
                shown = v.decode("utf-8", errors="replace")[:120]
                rejects.append(Reject(i, name, "invalid_encoding", shown))
                fixed.append(shown)
        cols.append(pa.array(fixed, pa.string()))
    rejects.sort(key=lambda r: r.row)
    return pa.table(cols, names=names), rejects


def read_parquet(path: Path) -> Raw:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DeliveryStop("unreadable_parquet", f"the file is not readable Parquet ({exc})") from None
    n = table.num_rows
    return Raw(_numbered(_text(table), np.arange(1, n + 1)), n)


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d") if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_excel(path: Path, sheet: str | None) -> Raw:
    from openpyxl import load_workbook  # only councils that send Excel pay for the import

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DeliveryStop("unreadable_excel", f"the file is not a readable Excel workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise DeliveryStop(
                "missing_sheet", f"the workbook has no sheet {sheet!r} (it has {wb.sheetnames})"
            )
        ws = wb[sheet] if sheet else wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise DeliveryStop("empty_file", "the sheet is empty: no header row")
        names = [_cell(h) for h in header]
        while names and names[-1] == "":
            names.pop()
        cols: list[list[str]] = [[] for _ in names]
        for values in it:
            if values is None or all(v is None for v in values):
                continue
            for j in range(len(names)):
                cols[j].append(_cell(values[j]) if j < len(values) else "")
    finally:
        wb.close()
    n = len(cols[0]) if cols else 0
    table = pa.table({nm: pa.array(c, pa.string()) for nm, c in zip(names, cols, strict=True)})
    return Raw(_numbered(table, np.arange(1, n + 1)), n)


def _masked(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def read_sql(sc: SourceConfig) -> Raw:
    import sqlalchemy as sa

    assert sc.url and sc.query
    try:
        engine = sa.create_engine(sc.url)
        with engine.connect() as con:
            result = con.execute(sa.text(sc.query))
            names = list(result.keys())
            data = result.fetchall()
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DeliveryStop(
            "source_unreachable", f"cannot run the query on {_masked(sc.url)}: {reason}"
        ) from None
    cols = list(zip(*data, strict=True)) if data else [() for _ in names]
    table = pa.table(
        {nm: pa.array([_cell(v) for v in c], pa.string()) for nm, c in zip(names, cols, strict=True)}
    )
    n = len(data)
    return Raw(_numbered(table, np.arange(1, n + 1)), n)
