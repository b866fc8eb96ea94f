"""Write the synthetic council's extracts as its systems would deliver them, with faults.

Deliveries: an initial history extract up to the go-live month, then one delivery per month,
and one per day in the final month for sources that send changes (so that a nightly run has
something new). Snapshot sources (council tax, rent accounts) send every month-end balance;
current-state sources (cases, referrals, care episodes) send a record again whenever it
changes, and their history extract holds only each record's state at go-live.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskflag.config import SOURCE_NAMES
from riskflag.synth import faults as fl
from riskflag.synth.faults import FAULT_BITS, FaultRates

if TYPE_CHECKING:
    from riskflag.synth.simulate import World

EPOCH = np.datetime64("1970-01-01", "D")
REASON_CODES = ("ENDAST", "RENTARR", "MORTARR", "FAMNOTWILL", "RELBRK", "DA", "FRNDNOTWILL", "OTHER")
STAGE_CODES = ("", "REM", "FN", "SUM", "LO", "EA")
ETH_SYSTEM = ("WBRI", "WIRI", "WOTH", "MIXD", "ASIA", "BLAC", "OTHR")

# delivery kind and file format of each source (the contracts in data_contracts/ say the same)
SOURCES: dict[str, dict[str, str]] = {
    "council_tax": {"kind": "snapshot", "encoding": "cp1252", "delimiter": ",", "date": "%d/%m/%Y"},
    "rent_accounts": {"kind": "snapshot", "encoding": "utf-8", "delimiter": ",", "date": "%d-%b-%Y"},
    "benefits": {"kind": "delta", "encoding": "cp1252", "delimiter": ",", "date": "%Y-%m-%d"},
    "homelessness_cases": {
        "kind": "current_state",
        "encoding": "utf-8",
        "delimiter": ",",
        "date": "%d/%m/%Y",
    },
    "childrens_services": {
        "kind": "current_state",
        "encoding": "utf-8",
        "delimiter": ",",
        "date": "%Y-%m-%d",
    },
    "adult_social_care": {"kind": "current_state", "encoding": "utf-8", "delimiter": ",", "date": "%d/%m/%Y"},
    "asb_incidents": {"kind": "delta", "encoding": "utf-8", "delimiter": "|", "date": "%d/%m/%Y"},
    "education": {"kind": "delta", "encoding": "utf-8-sig", "delimiter": ",", "date": "%Y-%m-%d"},
    "deaths": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%d/%m/%Y"},
    "objections": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%Y-%m-%d"},
    "contacts": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%Y-%m-%d"},
}
ALT_DATE = {"%d/%m/%Y": "%Y-%m-%d", "%Y-%m-%d": "%d/%m/%Y", "%d-%b-%Y": "%d/%m/%Y"}


LEDGER_SCHEMA = pa.schema(
    [("file", pa.string()), ("row", pa.int32()), ("faults", pa.int32()), ("faults_2", pa.int32())]
)
KEYS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("row", pa.int32()),
        ("record", pa.string()),
        ("person_id", pa.int32()),
        ("person2_id", pa.int32()),
        ("true_uprn", pa.int64()),
        ("address_uprn", pa.int64()),
        ("event_date", pa.date32()),
    ]
)


@dataclass
class Out:
    """Writes delivery files, and streams the fault ledger and record keys to the truth
    folder so that a large council never holds them in memory whole."""

    root: Path
    truth: Path
    started: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.truth.mkdir(parents=True, exist_ok=True)
        self.ledger = pq.ParquetWriter(self.truth / "fault_ledger.parquet", LEDGER_SCHEMA)
        self.keys = pq.ParquetWriter(self.truth / "record_keys.parquet", KEYS_SCHEMA)
        self.rows = 0

    def write(self, source: str, name: str, df: pd.DataFrame | Cols) -> Path:
        """Write df to a delivery file; a file written before in this run is appended to."""
        spec = SOURCES.get(source, {"encoding": "utf-8", "delimiter": ","})
        path = self.root / "extracts" / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        append = str(path) in self.started
        self.started.add(str(path))
        table = pa.table({c: _arrow_column(df[c]) for c in df})
        buf = io.BytesIO()
        options = pacsv.WriteOptions(
            include_header=not append, delimiter=spec["delimiter"], quoting_style="needed"
        )
        pacsv.write_csv(table, buf, write_options=options)
        data = buf.getvalue()
        enc = spec["encoding"]
        if enc == "cp1252":
            data = data.decode("utf-8").encode("cp1252")
        elif enc == "utf-8-sig" and not append:
            data = b"\xef\xbb\xbf" + data
        with open(path, "ab" if append else "wb") as fh:
            fh.write(data)
        return path

    def log(self, ledger: pa.Table, keys: pa.Table) -> None:
        self.ledger.write_table(ledger.cast(LEDGER_SCHEMA))
        self.keys.write_table(keys.cast(KEYS_SCHEMA))
        self.rows += ledger.num_rows

    def close(self) -> None:
        self.ledger.close()
        self.keys.close()


def days_to_str(days: npt.ArrayLike, fmt: str) -> np.ndarray:
    """Days since 1970 as text; -1 (no such date) and NO_DATE (a missing birth date) are blank.

    Each distinct day is formatted once: extracts repeat the same few thousand dates."""
    d = np.asarray(days, dtype=np.int64)
    uniq, inv = np.unique(d, return_inverse=True)
    blank = (uniq == -1) | (uniq == fl.NO_DATE)
    text = (
        pd.Series(pd.to_datetime(np.where(blank, 0, uniq), unit="D")).dt.strftime(fmt).to_numpy(dtype=object)
    )
    text[blank] = ""
    return text[inv.reshape(-1)]


class Cols(dict):
    """Equal-length columns of an extract, in file order: numpy or Arrow arrays (scalars are
    broadcast). Lighter than a DataFrame, whose string inference costs more than the work."""

    def __init__(self, data: dict, n: int | None = None) -> None:
        arrays = {k: v for k, v in data.items() if not np.isscalar(v)}
        first = next(iter(arrays.values()), None)
        size = n if n is not None else (len(first) if first is not None else 0)
        super().__init__()
        for k, v in data.items():
            if np.isscalar(v):
                self[k] = np.full(size, v, dtype=object)
            elif isinstance(v, pd.Series | pd.Index):
                self[k] = v.to_numpy()
            else:
                self[k] = v
        self.n = size

    def take(self, idx: np.ndarray) -> Cols:
        taken = {
            k: v.take(pa.array(idx)) if isinstance(v, pa.Array) else np.asarray(v)[idx]
            for k, v in self.items()
        }
        return Cols(taken, n=len(idx))

    def set(self, col: str, mask: np.ndarray, values: np.ndarray) -> None:
        a = np.array(self[col], dtype=object)
        a[mask] = values
        self[col] = a


def _arrow_column(col: pd.Series | np.ndarray | pa.Array) -> pa.Array:
    """A column for the CSV writer: numbers stay numbers, everything else is text."""
    if isinstance(col, pa.Array):
        return col
    a = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
    if a.dtype.kind in "iu":
        return pa.array(a)
    if a.dtype.kind == "b":
        return pa.array(np.where(a, "True", "False"))
    return pa.array(a.astype(object) if a.dtype.kind != "O" else a, type=pa.string(), from_pandas=True)


def _as_text(v: np.ndarray | pa.Array) -> pa.Array:
    return (
        v.cast(pa.string()) if isinstance(v, pa.Array) else pa.array(np.asarray(v).astype(str), pa.string())
    )


def pc_divide_text(pence: np.ndarray) -> pa.Array:
    """Whole pence as '1234.50' text, computed in Arrow (no Python-level loop)."""
    p = np.asarray(pence, dtype=np.int64)
    a = np.abs(p)
    pounds = pa.array(a // 100).cast(pa.string())
    cents = pc.utf8_lpad(pa.array(a % 100).cast(pa.string()), 2, "0")
    sign = pa.array(np.where(p < 0, "-", ""))
    return pc.binary_join_element_wise(sign, pounds, ".", cents, "")


class Extracts:
    def __init__(
        self,
        w: World,
        out: Path,
        rates: FaultRates,
        go_live: int,
        seed: int,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.w = w
        self.o = Out(out, out / "truth")
        self.rates = rates
        self.go_live = go_live
        self.rng = np.random.default_rng(seed + 7919)
        self.progress = progress or (lambda s: None)
        props = w.gaz.props
        self.uprn = props["uprn"].to_numpy()
        self.sao, self.pao = props["sao"].to_numpy(), props["pao"].to_numpy()
        self.street, self.town = props["street"].to_numpy(), props["town"].to_numpy()
        self.addr, self.pc = props["address"].to_numpy(), props["postcode"].to_numpy()
        self.month_end = (w.month_start[1:] - EPOCH).astype(np.int64) - 1
        self.last = w.months - 1
        self.next_row: dict[str, int] = {}
        spells = w.spells.frame().sort_values(["person", "month"], kind="stable")
        self.spell_person = spells["person"].to_numpy().astype(np.int64)
        self.spell_prop = spells["prop"].to_numpy()
        self.spell_month = spells["month"].to_numpy().astype(np.int64)
        self.spell_key = self.spell_person * 4096 + self.spell_month
        self.timings: dict[str, float] = {}
        self.headers: dict[str, list[str]] = {}

    # --- deliveries --------------------------------------------------------------------

    def delivery_of(self, known_day: np.ndarray, daily: bool) -> np.ndarray:
        """Delivery of each record from the day the council knew it: -1 the history extract,
        a month index for a monthly delivery, or 100000 + day for a nightly one."""
        m = np.searchsorted(self.month_end, known_day, side="left")
        code = np.where(m < self.go_live, -1, m)
        if daily:
            code = np.where(m >= self.last, 100_000 + known_day, code)
        return code

    def file_name(self, source: str, code: int) -> str:
        if code < 0:
            day = self.month_end[self.go_live - 1]
            return f"{source}_history_to_{days_to_str([day], '%Y-%m-%d')[0]}.csv"
        day = self.month_end[code] if code < 100_000 else code - 100_000
        return f"{source}_{days_to_str([day], '%Y-%m-%d')[0]}.csv"

    def _fill_schedule(self, source: str) -> None:
        """A system sends every scheduled delivery, header only when nothing is new, so that
        silence means a failed feed rather than a quiet night."""
        if source not in self.headers:
            return
        daily = SOURCES[source]["kind"] != "snapshot"
        codes = [-1, *range(self.go_live, self.last + (0 if daily else 1))]
        if daily:
            codes += [
                100_000 + d for d in range(self.month_end[self.last - 1] + 1, self.month_end[self.last] + 1)
            ]
        empty = Cols({c: np.array([], dtype=object) for c in self.headers[source]})
        for code in codes:
            name = self.file_name(source, code)
            if str(self.o.root / "extracts" / source / name) not in self.o.started:
                self.o.write(source, name, empty)

    def emit(
        self,
        source: str,
        df: Cols,
        known: np.ndarray,
        bits: np.ndarray,
        keys: pd.DataFrame,
        daily: bool = True,
        bits2: np.ndarray | None = None,
    ) -> None:
        """Duplicate a few rows, split by delivery, write files, and log ledger and keys."""
        rng = self.rng
        bits2 = np.zeros(df.n, np.int32) if bits2 is None else bits2.astype(np.int32)
        arrived = np.flatnonzero(known <= self.month_end[self.last])  # later ones are not delivered yet
        df, known, bits, keys = df.take(arrived), known[arrived], bits[arrived], keys.take(arrived)
        bits2 = bits2[arrived]
        dup = rng.random(df.n) < self.rates.duplicate_row
        order = np.concatenate([np.arange(df.n), np.flatnonzero(dup)])
        order.sort(kind="stable")
        is_dup = np.zeros(order.size, bool)
        is_dup[1:] = order[1:] == order[:-1]
        df = df.take(order)
        known = known[order]
        bits = bits[order] | np.where(is_dup, FAULT_BITS["duplicate_row"], 0)
        bits2 = bits2[order]
        keys = keys.take(order)
        self.headers.setdefault(source, list(df))
        labels = self.delivery_of(known, daily)
        order_in = np.argsort(labels, kind="stable")
        codes, starts = np.unique(labels[order_in], return_index=True)
        for code, sel in zip(codes, np.split(order_in, starts[1:]), strict=True):
            name = self.file_name(source, int(code))
            rel = f"{source}/{name}"
            first = self.next_row.get(rel, 1)
            self.next_row[rel] = first + sel.size
            self.o.write(source, name, df.take(sel))
            rows = np.arange(first, first + sel.size, dtype=np.int32)
            k = keys.take(sel)
            addr = np.asarray(k["address_uprn"] if "address_uprn" in k else k["true_uprn"])
            self.o.log(
                pa.table(
                    {
                        "file": pa.array([rel] * sel.size),
                        "row": rows,
                        "faults": bits[sel].astype(np.int32),
                        "faults_2": bits2[sel],
                    }
                ),
                pa.table(
                    {
                        "source": pa.array([source] * sel.size),
                        "file": pa.array([rel] * sel.size),
                        "row": rows,
                        "record": _as_text(k["record"]),
                        "person_id": np.asarray(k["person_id"]).astype(np.int32),
                        "person2_id": np.asarray(k["person2_id"]).astype(np.int32),
                        "true_uprn": np.asarray(k["true_uprn"]).astype(np.int64),
                        "address_uprn": np.asarray(addr).astype(np.int64),
                        "event_date": pa.array(np.asarray(k["event_day"]).astype(np.int32), pa.date32()),
                    }
                ),
            )

    # --- shared field builders ---------------------------------------------------------

    def person_fields(
        self, person: np.ndarray, dob_missing: float, encoding: str = "utf-8"
    ) -> tuple[dict, np.ndarray]:
        pe = self.w.people
        ok = person >= 0
        p = np.where(ok, person, 0)
        first, last, b1 = fl.apply_names(self.rng, self.rates, pe["first"][p], pe["last"][p])
        first, f1 = fl.fold_to_charset(first, encoding)
        last, f2 = fl.fold_to_charset(last, encoding)
        b1 |= f1 | f2
        dob, b2 = fl.apply_dob(self.rng, self.rates, pe["dob"][p].astype(np.int64), dob_missing)
        ni = pe["nino"][p].copy()
        first[~ok] = ""
        last[~ok] = ""
        dob[~ok] = fl.NO_DATE
        ni[~ok] = ""
        bits = np.where(ok, b1 | b2, 0)
        return {"first": first, "last": last, "dob": dob, "nino": ni}, bits

    def address_fields(
        self, person: np.ndarray, prop: np.ndarray, month: np.ndarray
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        """Free-text address and postcode; stale after a recent move. Returns the property
        the text names (-1 when it is outside the borough)."""
        pe = self.w.people
        p = np.where(person >= 0, person, 0)
        # the residence spell the record falls in (records of month m see homes after its moves)
        at = np.searchsorted(self.spell_key, p.astype(np.int64) * 4096 + month + 1, side="right") - 1
        later = (at >= 1) & (self.spell_prop[np.maximum(at, 0)] != prop)
        at = np.where(later, at - 1, at)  # recorded before that month's move or exit
        ok = (person >= 0) & (at >= 0) & (self.spell_person[np.maximum(at, 0)] == p)
        start = np.where(ok, self.spell_month[np.maximum(at, 0)], 0)
        before = np.maximum(at - 1, 0)
        has_prev = ok & (at >= 1) & (self.spell_person[before] == p) & (self.spell_prop[before] >= 0)
        prev = np.where(has_prev, self.spell_prop[before], -1)
        incomer = ok & ~has_prev & (pe["oob_addr"][p] >= 0)
        recent = ok & (start > 0) & (month + 1 - start < 3) & (has_prev | incomer)
        stale = recent & (self.rng.random(prop.size) < self.rates.stale_address)
        prev_in = stale & has_prev
        shown = prop.copy()
        shown[prev_in] = prev[prev_in]
        oob = stale & incomer
        bits = np.where(stale, FAULT_BITS["stale_address"], 0).astype(np.int32)
        sp = np.where(shown >= 0, shown, 0)
        text = self.addr[sp].copy()
        var = self.rng.random(prop.size) < self.rates.address_variant
        if var.any():
            text[var] = fl.address_variant(
                self.rng, self.sao[sp[var]], self.pao[sp[var]], self.street[sp[var]], self.town[sp[var]]
            )
            bits[var] |= FAULT_BITS["address_variant"]
        base_pc = self.pc[sp].copy()
        if oob.any():
            k = pe["oob_addr"][p[oob]]
            text[oob] = self.w.oob_addr[k]
            base_pc[oob] = self.w.oob_pc[k]
            shown[oob] = -1
        pc, b = fl.postcode(self.rng, self.rates, base_pc)
        bits |= b
        return {"address": text, "postcode": pc}, bits, shown

    def dates(self, source: str, days: np.ndarray, bits: np.ndarray) -> np.ndarray:
        fmt = SOURCES[source]["date"]
        out = days_to_str(days, fmt)
        alt = (self.rng.random(days.size) < self.rates.date_format) & (np.asarray(days) != -1)
        out[alt] = days_to_str(np.asarray(days)[alt], ALT_DATE[fmt])
        bits |= np.where(alt, FAULT_BITS["date_format"], 0).astype(np.int32)
        return out

    def late(self, event_day: np.ndarray, bits: np.ndarray) -> np.ndarray:
        known = event_day + self.rng.integers(0, 6, event_day.size)
        late = self.rng.random(event_day.size) < self.rates.late_known
        known[late] = event_day[late] + self.rng.integers(20, 61, late.sum())
        bits |= np.where(late, FAULT_BITS["late_known"], 0).astype(np.int32)
        return known

    def impossible(self, n: int, bits: np.ndarray) -> np.ndarray:
        bad = self.rng.random(n) < self.rates.impossible_value
        bits |= np.where(bad, FAULT_BITS["impossible_value"], 0).astype(np.int32)
        return bad

    # --- sources -----------------------------------------------------------------------

    def write_all(self) -> None:
        for name in SOURCE_NAMES:
            self.progress(name)
            t0 = time.perf_counter()
            getattr(self, f"_{name}")()
            self._fill_schedule(name)
            self.timings[name] = round(time.perf_counter() - t0, 2)
        self.o.close()

    def _llpg(self) -> None:
        props = self.w.gaz.props
        df = pd.DataFrame(
            {
                "UPRN": props["uprn"],
                "SAO_TEXT": np.where(props["sao"] > 0, "Flat " + props["sao"].astype(str), ""),
                "PAO_START_NUMBER": props["pao"],
                "STREET_DESCRIPTION": props["street"],
                "TOWN_NAME": props["town"],
                "POSTCODE_LOCATOR": props["postcode"],
                "LSOA21CD": props["lsoa"],
                "WARD_CODE": props["ward_code"],
                "CLASSIFICATION_CODE": props["class_code"],
            }
        )
        # the gazetteer team sends a full copy every month from go-live (unchanged: the synthetic
        # borough builds no new homes), so an identical re-delivery is the normal case
        for m in range(self.go_live - 1, self.last + 1):
            self.o.write("llpg", f"llpg_{days_to_str([self.month_end[m]], '%Y-%m-%d')[0]}.csv", df)

    def _area_deprivation(self) -> None:
        ls = self.w.gaz.lsoas
        df = pd.DataFrame(
            {
                "LSOA code (2021)": ls["lsoa"],
                "Index of Multiple Deprivation (IMD) Decile": ls["imd_decile"],
                "Income Rank": ls["income_rank"],
                "Employment Rank": ls["employment_rank"],
            }
        )
        self.o.write("area_deprivation", "imd_2025_published_2025-10-30.csv", df)

    def _by_month(self, rec: pd.DataFrame):
        """Monthly slices of a snapshot source's records (they were recorded in month order)."""
        months = rec["month"].to_numpy()
        edges = np.flatnonzero(np.diff(months)) + 1
        for lo, hi in zip(np.r_[0, edges], np.r_[edges, months.size], strict=True):
            yield int(months[lo]), rec.iloc[lo:hi]

    def _council_tax(self) -> None:
        rec = self.w.rec["council_tax"].frame(consume=True)
        if rec.empty:
            return
        # names are typed once per account and repeat in every monthly row
        acc = rec.drop_duplicates("account").set_index("account").sort_index()
        n = len(acc)
        p1, b1 = self.person_fields(acc["person1"].to_numpy(), self.rates.dob_missing_council_tax, "cp1252")
        p2, b2 = self.person_fields(acc["person2"].to_numpy(), self.rates.dob_missing_council_tax, "cp1252")
        has2 = acc["person2"].to_numpy() >= 0
        joint = has2 & (p1["last"] == p2["last"]) & (self.rng.random(n) < 0.3)
        up = lambda a: pd.Series(a, dtype=object).str.upper()  # noqa: E731
        name1 = np.array(up(p1["last"]) + ", " + up(p1["first"]), dtype=object)
        name1[joint] = (
            up(p1["last"][joint])
            + ", "
            + pd.Series(p1["first"][joint], dtype=object)
            + " & "
            + pd.Series(p2["first"][joint], dtype=object)
        ).to_numpy(dtype=object)
        name2 = np.where(has2 & ~joint, (up(p2["last"]) + ", " + up(p2["first"])).to_numpy(dtype=object), "")
        dob1 = days_to_str(p1["dob"], "%d/%m/%Y")
        name1, name2, dob1 = (pa.array(a, pa.string()) for a in (name1, name2, dob1))
        refs = pa.array([f"{900000000 + int(a):09d}" for a in acc.index], pa.string())
        name_bits = (
            FAULT_BITS["name_typo"]
            | FAULT_BITS["nickname"]
            | FAULT_BITS["name_swap"]
            | FAULT_BITS["charset_folded"]
        )
        b2 = np.where(has2, b2 & name_bits, 0)
        index = pd.Index(acc.index)
        named1 = acc["person1"].to_numpy()
        named2 = np.where(has2, acc["person2"].to_numpy(), -1)
        for m, chunk in self._by_month(rec):
            pos = index.get_indexer(chunk["account"].to_numpy())
            at = pa.array(pos)
            n_rows = len(chunk)
            bits = b1[pos].astype(np.int32)
            arrears = chunk["arrears"].to_numpy().astype(float)
            stage = np.asarray(STAGE_CODES, dtype=object)[chunk["stage"].to_numpy()]
            bad = self.impossible(n_rows, bits)
            neg = bad & (self.rng.random(n_rows) < 0.5)
            arrears[neg] = -np.abs(arrears[neg]) - 1
            stage[bad & ~neg] = "XX9"
            txt = self.rng.random(n_rows) < self.rates.money_as_text
            as_text = np.full(n_rows, None, dtype=object)
            as_text[txt] = [f"£{a:,.2f}" for a in arrears[txt]]
            money = pc.if_else(pa.array(txt), pa.array(as_text, pa.string()),
                               pc_divide_text(np.round(arrears * 100).astype(np.int64)))  # fmt: skip
            bits |= np.where(txt, FAULT_BITS["money_as_text"], 0).astype(np.int32)
            bal_day = np.full(n_rows, self.month_end[m])
            df = Cols(
                {
                    "ACCOUNT_REF": refs.take(at),
                    "PROPERTY_REF": self.uprn[chunk["prop"].to_numpy()],
                    "LIABLE_NAME_1": name1.take(at),
                    "LIABLE_DOB_1": dob1.take(at),
                    "LIABLE_NAME_2": name2.take(at),
                    "BALANCE_DATE": days_to_str(bal_day[:1], "%d/%m/%Y")[0],
                    "ARREARS": money,
                    "RECOVERY_STAGE": stage,
                    "SPD": np.where(chunk["spd"].to_numpy(), "Y", "N"),
                    "CTR_WEEKLY": pc_divide_text(
                        np.round(chunk["ctr_weekly"].to_numpy() * 100).astype(np.int64)
                    ),
                    "ACC_START": days_to_str(chunk["start_day"].to_numpy(), "%d/%m/%Y"),
                    "ACC_END": days_to_str(chunk["end_day"].to_numpy(), "%d/%m/%Y"),
                }
            )
            keys = Cols(
                {
                    "record": refs.take(at),
                    # the people the row names: typed when the account opened, they stay
                    # on it as occupants change, as on a real council-tax account
                    "person_id": named1[pos],
                    "person2_id": named2[pos],
                    "true_uprn": self.uprn[chunk["prop"].to_numpy()],
                    "event_day": bal_day,
                }
            )
            self.emit("council_tax", df, bal_day, bits, keys, daily=False, bits2=b2[pos])

    def _rent_accounts(self) -> None:
        rec = self.w.rec["rent_accounts"].frame(consume=True)
        if rec.empty:
            return
        ten = rec.drop_duplicates("tenancy").set_index("tenancy").sort_index()
        p1, b1 = self.person_fields(ten["person1"].to_numpy(), self.rates.dob_missing)
        p2, b2 = self.person_fields(ten["person2"].to_numpy(), self.rates.dob_missing)
        fmt = SOURCES["rent_accounts"]["date"]
        dob1, dob2 = days_to_str(p1["dob"], fmt), days_to_str(p2["dob"], fmt)
        refs = np.asarray([f"T{700000 + int(t):07d}" for t in ten.index], dtype=object)
        index = pd.Index(ten.index)
        for m, chunk in self._by_month(rec):
            pos = index.get_indexer(chunk["tenancy"].to_numpy())
            n = len(chunk)
            bits = b1[pos].astype(np.int32)
            arrears = chunk["arrears"].to_numpy().astype(float)
            bad = self.impossible(n, bits)
            arrears[bad] = -np.abs(arrears[bad]) - 1
            snap = np.full(n, self.month_end[m])
            df = Cols(
                {
                    "TENANCY_REF": refs[pos],
                    "UPRN": self.uprn[chunk["prop"].to_numpy()],
                    "TENANT1_FORENAME": p1["first"][pos],
                    "TENANT1_SURNAME": p1["last"][pos],
                    "TENANT1_DOB": dob1[pos],
                    "TENANT2_FORENAME": p2["first"][pos],
                    "TENANT2_SURNAME": p2["last"][pos],
                    "TENANT2_DOB": dob2[pos],
                    "TENANCY_TYPE": chunk["ttype"].to_numpy().astype(object),
                    "TENANCY_START": days_to_str(chunk["start_day"].to_numpy(), fmt),
                    "TENANCY_END": days_to_str(chunk["end_day"].to_numpy(), fmt),
                    "WEEKLY_RENT": pc_divide_text(
                        np.round(chunk["weekly_rent"].to_numpy() * 100).astype(np.int64)
                    ),
                    "ARREARS_BAL": pc_divide_text(np.round(arrears * 100).astype(np.int64)),
                    "NOSP_DATE": days_to_str(chunk["nsp_day"].to_numpy(), fmt),
                    "POSS_ORDER_DATE": days_to_str(chunk["order_day"].to_numpy(), fmt),
                    "EVICTION_DATE": days_to_str(chunk["eviction_day"].to_numpy(), fmt),
                    "SNAPSHOT_DATE": days_to_str(snap[:1], fmt)[0],
                }
            )
            keys = Cols(
                {
                    "record": refs[pos],
                    "person_id": ten["person1"].to_numpy()[pos],  # the tenants named, as for council tax
                    "person2_id": ten["person2"].to_numpy()[pos],
                    "true_uprn": self.uprn[chunk["prop"].to_numpy()],
                    "event_day": snap,
                }
            )
            self.emit("rent_accounts", df, snap, bits, keys, daily=False, bits2=b2[pos])

    def _event_people(
        self, source: str, rec: pd.DataFrame, person_col: str, day_col: str
    ) -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:
        person = rec[person_col].to_numpy()
        day = rec[day_col].to_numpy().astype(np.int64)
        month = np.searchsorted(self.month_end, day, side="left")
        who, b1 = self.person_fields(person, self.rates.dob_missing, SOURCES[source]["encoding"])
        where, b2, shown = self.address_fields(person, rec["prop"].to_numpy(), month)
        bits = (b1 | b2).astype(np.int32)
        return who, where, bits, shown, day

    def _benefits(self) -> None:
        rec = self.w.rec["benefits"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("benefits", rec, "person", "event_day")
        part, b3 = self.person_fields(rec["partner"].to_numpy(), self.rates.dob_missing, "cp1252")
        n = len(rec)
        known = self.late(day, bits)
        fmt = SOURCES["benefits"]["date"]
        dob = who["dob"].copy()
        bad = self.impossible(n, bits)
        dob[bad] = known[bad] + self.rng.integers(30, 3000, bad.sum())  # born after the record
        uprn_given = np.where(
            (shown >= 0) & (self.rng.random(n) < 0.7), self.uprn[np.maximum(shown, 0)].astype(str), ""
        )
        df = Cols(
            {
                "CLAIM_REF": [f"HB{c:08d}" for c in rec["claim"]],
                "EVENT_TYPE": rec["event"],
                "EVENT_DATE": self.dates("benefits", day, bits),
                "CLMT_FORENAME": who["first"],
                "CLMT_SURNAME": who["last"],
                "CLMT_DOB": days_to_str(dob, fmt),
                "CLMT_NINO": who["nino"],
                "PTNR_FORENAME": part["first"],
                "PTNR_SURNAME": part["last"],
                "PTNR_DOB": days_to_str(part["dob"], fmt),
                "PTNR_NINO": part["nino"],
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "UPRN": uprn_given,
                "HB_WEEKLY": rec["hb_weekly"].map("{:.2f}".format),
                "CTR_WEEKLY": rec["ctr_weekly"].map("{:.2f}".format),
                "UC_FLAG": np.where(rec["uc"], "Y", "N"),
                "NUM_DEPENDANTS": rec["dependants"],
                "DISABILITY_PREMIUM": np.where(rec["disability"], "Y", "N"),
                "ENTRY_DATE": days_to_str(known, fmt),
            }
        )
        self.emit(
            "benefits",
            df,
            known,
            bits,
            self._keys(rec, "claim", "person", day, shown, partner=rec["partner"].to_numpy()),
            bits2=b3,
        )

    def _keys(
        self,
        rec: pd.DataFrame,
        rec_col: str,
        person_col: str,
        day: np.ndarray,
        shown: np.ndarray,
        partner: np.ndarray | None = None,
    ) -> pd.DataFrame:
        return Cols(
            {
                "record": rec[rec_col].astype(str).to_numpy(),
                "person_id": rec[person_col].to_numpy(),
                "person2_id": partner if partner is not None else np.full(len(rec), -1),
                "true_uprn": self.uprn[rec["prop"].to_numpy()],
                "address_uprn": np.where(shown >= 0, self.uprn[np.maximum(shown, 0)], -1),
                "event_day": day,
            }
        )

    def _versions(
        self, rec: pd.DataFrame, close_day: np.ndarray, known_open: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current-state records: one row when opened, one when closed. Rows known before
        go-live collapse to the state at go-live (what a history extract holds)."""
        end = self.month_end[self.last]
        gl = self.month_end[self.go_live - 1]
        closed = close_day <= end
        known_close = close_day + self.rng.integers(0, 10, close_day.size)
        closed &= known_close <= end
        idx = np.concatenate([np.arange(len(rec)), np.flatnonzero(closed)])
        is_close = np.concatenate([np.zeros(len(rec), bool), np.ones(closed.sum(), bool)])
        known = np.concatenate([known_open, known_close[closed]])
        # drop the open row where the closed row is also in the history extract
        superseded = ~is_close & np.isin(idx, np.flatnonzero(closed & (known_close <= gl)))
        keep = ~superseded
        return idx[keep], is_close[keep], known[keep]

    def _current_state(self, source: str, day_col: str, close_col: str) -> tuple | None:
        """The opening every current-state source shares: its records, who and where they
        name, when the council knew, and the versions (opened, closed) to deliver."""
        rec = self.w.rec[source].frame()
        if rec.empty:
            return None
        who, where, bits, shown, day = self._event_people(source, rec, "person", day_col)
        known_open = self.late(day, bits)
        idx, is_close, known = self._versions(rec, rec[close_col].to_numpy(), known_open)
        return rec, who, where, bits, shown, day, idx, is_close, known, rec["person"].to_numpy()

    def _emit_versions(self, source: str, df: Cols, keys: Cols, opened: tuple, closed: dict[str, np.ndarray],
                       updated: str, bits2: np.ndarray | None = None) -> None:  # fmt: skip
        """Deliver each record's versions: the closed version shows `closed` (per record),
        and every version shows when it was last updated."""
        _, _, _, bits, _, _, idx, is_close, known, _ = opened
        df = df.take(idx)
        for col, values in closed.items():
            df.set(col, is_close, np.asarray(values, dtype=object)[idx[is_close]])
        df[updated] = days_to_str(known, SOURCES[source]["date"])
        self.emit(source, df, known, bits[idx], keys.take(idx), bits2=None if bits2 is None else bits2[idx])

    def _homelessness_cases(self) -> None:
        opened = self._current_state("homelessness_cases", "approach_day", "close_day")
        if opened is None:
            return
        rec, who, where, bits, shown, day, _, _, _, person = opened
        pe = self.w.people
        eth = np.asarray(ETH_SYSTEM, dtype=object)[pe["eth"][person]]
        eth[self.rng.random(len(rec)) < 0.12] = ""
        dis = np.where(pe["disabled"][person], "Y", "N").astype(object)
        dis[self.rng.random(len(rec)) < 0.15] = ""
        sex = np.where(pe["sex"][person] == 1, "M", "F")
        fmt = SOURCES["homelessness_cases"]["date"]
        duty = rec["duty"].map({"prevention": "PREV", "relief": "REL", "none": "NONE"}).to_numpy()
        n_kids = rec["n_children"].to_numpy()
        hh_type = np.where(n_kids > 0, "FAM", "SGL")
        bad = self.impossible(len(rec), bits)
        reason = np.asarray(REASON_CODES, dtype=object)[rec["reason"].to_numpy()]
        reason[bad] = "ZZ"
        outcome = (
            rec["outcome"]
            .map(
                {
                    "stayed": "PREV_STAY",
                    "moved": "PREV_MOVE",
                    "relief": "RELIEF_SECURED",
                    "main_duty_ta": "MAIN_DUTY",
                    "advice_only": "ADVICE",
                }
            )
            .to_numpy()
        )
        df = Cols(
            {
                "CASE_ID": [f"HC{c:07d}" for c in rec["case"]],
                "APPROACH_DATE": self.dates("homelessness_cases", day, bits),
                "APP_FORENAME": who["first"],
                "APP_SURNAME": who["last"],
                "APP_DOB": days_to_str(who["dob"], fmt),
                "APP_NINO": who["nino"],
                "LAST_SETTLED_ADDRESS": where["address"],
                "LAST_SETTLED_POSTCODE": where["postcode"],
                "INITIAL_DUTY": duty,
                "REASON_LOSS": reason,
                "HOUSEHOLD_TYPE": hh_type,
                "SEX": sex,
                "ETHNICITY": eth,
                "DISABILITY": dis,
                "OUTCOME": "",
                "CLOSE_DATE": "",
                "RECORD_UPDATED": "",
            }
        )
        keys = self._keys(rec, "case", "person", day, shown)
        closed = {"OUTCOME": outcome, "CLOSE_DATE": days_to_str(rec["close_day"].to_numpy(), fmt)}
        self._emit_versions("homelessness_cases", df, keys, opened, closed, "RECORD_UPDATED")

    def _childrens_services(self) -> None:
        opened = self._current_state("childrens_services", "referral_day", "close_day")
        if opened is None:
            return
        rec, who, where, bits, shown, day, _, _, _, person = opened
        c1, b1 = self.person_fields(rec["carer1"].to_numpy(), 1.0)
        c2, b2 = self.person_fields(rec["carer2"].to_numpy(), 1.0)
        carer_bits = (b1 | b2) & ~FAULT_BITS["dob_missing"]
        pe = self.w.people
        fmt = SOURCES["childrens_services"]["date"]
        carer = lambda c: np.where(c["first"] != "", pd.Series(c["first"]) + " " + pd.Series(c["last"]), "")  # noqa: E731
        df = Cols(
            {
                "REFERRAL_ID": [f"CS{r:07d}" for r in rec["referral"]],
                "CHILD_FORENAME": who["first"],
                "CHILD_SURNAME": who["last"],
                "CHILD_DOB": days_to_str(who["dob"], fmt),
                "CARER1_NAME": carer(c1),
                "CARER2_NAME": carer(c2),
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "REFERRAL_DATE": self.dates("childrens_services", day, bits),
                "CATEGORY": rec["category"],
                "SOURCE": rec["source"],
                "CLOSE_DATE": "",
                "ETHNICITY": np.asarray(ETH_SYSTEM, dtype=object)[pe["eth"][person]],
                "DISABILITY": np.where(pe["disabled"][person], "Y", "N"),
                "LAST_MODIFIED": "",
            }
        )
        keys = self._keys(rec, "referral", "person", day, shown, partner=rec["carer1"].to_numpy())
        closed = {"CLOSE_DATE": days_to_str(rec["close_day"].to_numpy(), fmt)}
        self._emit_versions("childrens_services", df, keys, opened, closed, "LAST_MODIFIED", bits2=carer_bits)

    def _adult_social_care(self) -> None:
        opened = self._current_state("adult_social_care", "start_day", "end_day")
        if opened is None:
            return
        rec, who, where, bits, shown, day, _, _, _, person = opened
        pe = self.w.people
        fmt = SOURCES["adult_social_care"]["date"]
        df = Cols(
            {
                "PERSON_ID": [f"M{p:08d}" for p in person],
                "FORENAME": who["first"],
                "SURNAME": who["last"],
                "DOB": days_to_str(who["dob"], fmt),
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "PRIMARY_SUPPORT_REASON": rec["reason"],
                "START_DATE": self.dates("adult_social_care", day, bits),
                "END_DATE": "",
                "SEX": np.where(pe["sex"][person] == 1, "M", "F"),
                "ETHNICITY": np.asarray(ETH_SYSTEM, dtype=object)[pe["eth"][person]],
                "DISABILITY": np.where(pe["disabled"][person], "Y", "N"),
                "UPDATED": "",
            }
        )
        keys = self._keys(rec, "episode", "person", day, shown)
        closed = {"END_DATE": days_to_str(rec["end_day"].to_numpy(), fmt)}
        self._emit_versions("adult_social_care", df, keys, opened, closed, "UPDATED")

    def _asb_incidents(self) -> None:
        rec = self.w.rec["asb_incidents"].frame()
        if rec.empty:
            return
        day = rec["day"].to_numpy().astype(np.int64)
        month = np.searchsorted(self.month_end, day, side="left")
        where, bits, shown = self.address_fields(np.full(len(rec), -1), rec["prop"].to_numpy(), month)
        known = self.late(day, bits)
        pc = where["postcode"].copy()
        pc[self.rng.random(len(rec)) < 0.4] = ""
        df = Cols(
            {
                "INCIDENT_REF": [f"ASB{i:07d}" for i in rec["incident"]],
                "INCIDENT_DATE": self.dates("asb_incidents", day, bits),
                "LOCATION_TEXT": where["address"],
                "POSTCODE": pc,
                "CATEGORY": rec["category"],
                "ROLE": rec["role"],
                "RECORDED_DATE": days_to_str(known, SOURCES["asb_incidents"]["date"]),
            }
        )
        keys = self._keys(rec, "incident", "person", day, shown)
        self.emit("asb_incidents", df, known, bits, keys)

    def _education(self) -> None:
        rec = self.w.rec["education"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("education", rec, "person", "term_end_day")
        known = day + self.rng.integers(10, 40, day.size)
        fmt = SOURCES["education"]["date"]
        upn = self.w.people["upn"][rec["person"].to_numpy()]
        df = Cols(
            {
                "UPN": upn,
                "FORENAME": who["first"],
                "SURNAME": who["last"],
                "DOB": days_to_str(who["dob"], fmt),
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "TERM": rec["term"],
                "FSM_ELIGIBLE": np.where(rec["fsm"], "Y", "N"),
                "PERSISTENT_ABSENCE": np.where(rec["persistent_absence"], "Y", "N"),
                "SUSPENSIONS": rec["suspensions"],
                "EXCLUSION_DATE": days_to_str(rec["exclusion_day"].to_numpy(), fmt),
            }
        )
        keys = self._keys(rec, "person", "person", day, shown)
        self.emit("education", df, known, bits, keys)

    def _deaths(self) -> None:
        rec = self.w.rec["deaths"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("deaths", rec, "person", "death_day")
        notified = rec["notified_day"].to_numpy().astype(np.int64)
        fmt = SOURCES["deaths"]["date"]
        df = Cols(
            {
                "NOTIFICATION_ID": [f"TUO{i:07d}" for i in rec["notification"]],
                "DECEASED_FORENAME": who["first"],
                "DECEASED_SURNAME": who["last"],
                "DOB": days_to_str(who["dob"], fmt),
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "DATE_OF_DEATH": self.dates("deaths", day, bits),
                "DATE_NOTIFIED": days_to_str(notified, fmt),
            }
        )
        self.emit("deaths", df, notified, bits, self._keys(rec, "notification", "person", day, shown))

    def _objections(self) -> None:
        rec = self.w.rec["objections"].frame()
        if rec.empty:
            rec = pd.DataFrame(
                {
                    k: np.zeros(0, np.int64)
                    for k in ("objection", "person", "prop", "received_day", "decided_day")
                }
                | {"status": np.zeros(0, object)}
            )
        who, where, bits, shown, day = self._event_people("objections", rec, "person", "received_day")
        decided = rec["decided_day"].to_numpy().astype(np.int64)
        fmt = SOURCES["objections"]["date"]
        df = Cols(
            {
                "OBJECTION_ID": [f"OBJ{i:06d}" for i in rec["objection"]],
                "FULL_NAME": pd.Series(who["first"], dtype=object)
                + " "
                + pd.Series(who["last"], dtype=object),
                "DOB": days_to_str(who["dob"], fmt),
                "ADDRESS": where["address"],
                "POSTCODE": where["postcode"],
                "RISKFLAG_HH_REF": "",
                "DATE_RECEIVED": days_to_str(day, fmt),
                "SCOPE": "profiling for prevention",
                "STATUS": rec["status"],
                "DECISION_DATE": days_to_str(decided, fmt),
            }
        )
        if df.n:
            self.emit("objections", df, decided, bits, self._keys(rec, "objection", "person", day, shown))

    def _contacts(self) -> None:
        df = pd.DataFrame(columns=["HH_REF", "CONTACT_DATE", "OUTCOME", "SUPPORT_OFFERED"])
        self.o.write("contacts", self.file_name("contacts", -1), df)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
