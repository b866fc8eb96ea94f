"""Write the synthetic council's extracts as its systems would deliver them, with faults.

Deliveries: an initial history extract up to the go-live month, then one delivery per month,
and one per day in the final month for sources that send changes (so that a nightly run has
something new). Snapshot sources (council tax, rent accounts) send every month-end balance;
current-state sources (cases, referrals, care episodes) send a record again whenever it
changes, and their history extract holds only each record's state at go-live.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

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
    "homelessness_cases": {"kind": "current_state", "encoding": "utf-8", "delimiter": ",", "date": "%d/%m/%Y"},
    "childrens_services": {"kind": "current_state", "encoding": "utf-8", "delimiter": ",", "date": "%Y-%m-%d"},
    "adult_social_care": {"kind": "current_state", "encoding": "utf-8", "delimiter": ",", "date": "%d/%m/%Y"},
    "asb_incidents": {"kind": "delta", "encoding": "utf-8", "delimiter": "|", "date": "%d/%m/%Y"},
    "education": {"kind": "delta", "encoding": "utf-8-sig", "delimiter": ",", "date": "%Y-%m-%d"},
    "deaths": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%d/%m/%Y"},
    "objections": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%Y-%m-%d"},
    "contacts": {"kind": "delta", "encoding": "utf-8", "delimiter": ",", "date": "%Y-%m-%d"},
}
ALT_DATE = {"%d/%m/%Y": "%Y-%m-%d", "%Y-%m-%d": "%d/%m/%Y", "%d-%b-%Y": "%d/%m/%Y"}


@dataclass
class Out:
    """Accumulates files written, the fault ledger and the record keys of the truth."""

    root: Path
    files: dict[str, str] = field(default_factory=dict)
    ledger: list[pd.DataFrame] = field(default_factory=list)
    keys: list[pd.DataFrame] = field(default_factory=list)

    def write(self, source: str, name: str, df: pd.DataFrame, append: bool = False) -> Path:
        spec = SOURCES.get(source, {"encoding": "utf-8", "delimiter": ","})
        path = self.root / "extracts" / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=not append, sep=spec["delimiter"], quoting=csv.QUOTE_MINIMAL,
                  lineterminator="\r\n")  # fmt: skip
        data = buf.getvalue()
        enc = spec["encoding"]
        if append:
            enc = "utf-8" if enc == "utf-8-sig" else enc
        with open(path, "ab" if append else "wb") as fh:
            fh.write(data.encode(enc, errors="replace"))
        return path


def days_to_str(days: np.ndarray, fmt: str) -> np.ndarray:
    """Days since 1970 as text; -1 (no such date) and NO_DATE (a missing birth date) are blank."""
    d = np.asarray(days, dtype=np.int64)
    blank = (d == -1) | (d == fl.NO_DATE)
    out = pd.Series(pd.to_datetime(np.where(blank, 0, d), unit="D")).dt.strftime(fmt).to_numpy(dtype=object)
    out[blank] = ""
    return out


class Extracts:
    def __init__(self, w: World, out: Path, rates: FaultRates, go_live: int, seed: int,
                 progress: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.w = w
        self.o = Out(out)
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

    # --- deliveries --------------------------------------------------------------------

    def delivery_of(self, known_day: np.ndarray, daily: bool) -> np.ndarray:
        """Delivery label of each record from the day the council knew it."""
        m = np.searchsorted(self.month_end, known_day, side="left")
        label = np.where(
            m < self.go_live, "history",
            np.where((m >= self.last) & daily, "day:" + pd.Series(known_day).astype(str).to_numpy(), "month:" + m.astype(str)),
        )  # fmt: skip
        return label

    def file_name(self, source: str, label: str) -> str:
        kind, _, v = label.partition(":")
        if kind == "history":
            day = self.month_end[self.go_live - 1]
            return f"{source}_history_to_{days_to_str([day], '%Y-%m-%d')[0]}.csv"
        day = self.month_end[int(v)] if kind == "month" else int(v)
        return f"{source}_{days_to_str([day], '%Y-%m-%d')[0]}.csv"

    def emit(self, source: str, df: pd.DataFrame, known: np.ndarray, bits: np.ndarray, keys: pd.DataFrame,
             daily: bool = True, bits2: np.ndarray | None = None) -> None:  # fmt: skip
        """Duplicate a few rows, split by delivery, write files, and log ledger and keys."""
        rng = self.rng
        bits2 = np.zeros(len(df), np.int32) if bits2 is None else bits2.astype(np.int32)
        arrived = np.flatnonzero(known <= self.month_end[self.last])  # later ones are not delivered yet
        df, known, bits, keys = df.iloc[arrived], known[arrived], bits[arrived], keys.iloc[arrived]
        bits2 = bits2[arrived]
        dup = rng.random(len(df)) < self.rates.duplicate_row
        order = np.concatenate([np.arange(len(df)), np.flatnonzero(dup)])
        order.sort(kind="stable")
        is_dup = np.zeros(order.size, bool)
        is_dup[1:] = order[1:] == order[:-1]
        df = df.iloc[order].reset_index(drop=True)
        known = known[order]
        bits = bits[order] | np.where(is_dup, FAULT_BITS["duplicate_row"], 0)
        bits2 = bits2[order]
        keys = keys.iloc[order].reset_index(drop=True)
        labels = self.delivery_of(known, daily)
        for label in pd.unique(labels):
            sel = np.flatnonzero(labels == label)
            name = self.file_name(source, label)
            self.o.write(source, name, df.iloc[sel])
            self.o.ledger.append(pd.DataFrame({"file": f"{source}/{name}", "row": np.arange(1, sel.size + 1),
                                               "faults": bits[sel].astype(np.int32),
                                               "faults_2": bits2[sel]}))  # fmt: skip
            k = keys.iloc[sel].copy()
            k.insert(0, "row", np.arange(1, sel.size + 1))
            k.insert(0, "file", f"{source}/{name}")
            k.insert(0, "source", source)
            self.o.keys.append(k)

    # --- shared field builders ---------------------------------------------------------

    def person_fields(self, person: np.ndarray, dob_missing: float, encoding: str = "utf-8") -> tuple[dict, np.ndarray]:
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

    def address_fields(self, person: np.ndarray, prop: np.ndarray, month: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
        """Free-text address and postcode; stale after a recent move. Returns the property
        the text names (-1 when it is outside the borough)."""
        pe = self.w.people
        p = np.where(person >= 0, person, 0)
        prev = pe["prev_prop"][p]
        moved = pe["moved_month"][p]
        recent = (person >= 0) & (month - moved >= 0) & (month - moved < 3)
        stale = recent & (self.rng.random(prop.size) < self.rates.stale_address)
        prev_in = stale & (prev >= 0)
        shown = prop.copy()
        shown[prev_in] = prev[prev_in]
        oob = stale & (prev < 0) & (pe["oob_addr"][p] >= 0)
        bits = np.where(stale & (prev_in | oob), FAULT_BITS["stale_address"], 0).astype(np.int32)
        sp = np.where(shown >= 0, shown, 0)
        text = self.addr[sp].copy()
        var = self.rng.random(prop.size) < self.rates.address_variant
        if var.any():
            text[var] = fl.address_variant(self.rng, self.sao[sp[var]], self.pao[sp[var]], self.street[sp[var]], self.town[sp[var]])
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
        for name in ("llpg", "area_deprivation", "council_tax", "rent_accounts", "benefits",
                     "homelessness_cases", "childrens_services", "adult_social_care", "asb_incidents",
                     "education", "deaths", "objections", "contacts"):  # fmt: skip
            self.progress(name)
            getattr(self, f"_{name}")()

    def _llpg(self) -> None:
        props = self.w.gaz.props
        df = pd.DataFrame({
            "UPRN": props["uprn"], "SAO_TEXT": np.where(props["sao"] > 0, "Flat " + props["sao"].astype(str), ""),
            "PAO_START_NUMBER": props["pao"], "STREET_DESCRIPTION": props["street"], "TOWN_NAME": props["town"],
            "POSTCODE_LOCATOR": props["postcode"], "LSOA21CD": props["lsoa"], "WARD_CODE": props["ward_code"],
            "CLASSIFICATION_CODE": props["class_code"],
        })  # fmt: skip
        name = f"llpg_{days_to_str([self.month_end[self.last]], '%Y-%m-%d')[0]}.csv"
        self.o.write("llpg", name, df)

    def _area_deprivation(self) -> None:
        ls = self.w.gaz.lsoas
        df = pd.DataFrame({
            "LSOA code (2021)": ls["lsoa"], "Index of Multiple Deprivation (IMD) Decile": ls["imd_decile"],
            "Income Rank": ls["income_rank"], "Employment Rank": ls["employment_rank"],
        })  # fmt: skip
        self.o.write("area_deprivation", "imd_2025.csv", df)

    def _council_tax(self) -> None:
        rec = self.w.rec["council_tax"].frame()
        if rec.empty:
            return
        # names are typed once per account and repeat in every monthly row
        acc = rec.drop_duplicates("account").set_index("account")
        n = len(acc)
        p1, b1 = self.person_fields(acc["person1"].to_numpy(), self.rates.dob_missing_council_tax, "cp1252")
        p2, b2 = self.person_fields(acc["person2"].to_numpy(), self.rates.dob_missing_council_tax, "cp1252")
        joint = (acc["person2"].to_numpy() >= 0) & (p1["last"] == p2["last"]) & (self.rng.random(n) < 0.3)
        name1 = (pd.Series(p1["last"]).str.upper() + ", " + pd.Series(p1["first"]).str.upper()).to_numpy(dtype=object)
        name1[joint] = (pd.Series(p1["last"][joint]).str.upper() + ", " + pd.Series(p1["first"][joint]) + " & " + pd.Series(p2["first"][joint])).to_numpy(dtype=object)
        name2 = np.where(acc["person2"].to_numpy() >= 0, (pd.Series(p2["last"]).str.upper() + ", " + pd.Series(p2["first"]).str.upper()).to_numpy(dtype=object), "")
        name2[joint] = ""
        refs = np.asarray([f"{900000000 + int(a):09d}" for a in acc.index])
        name_bits = FAULT_BITS["name_typo"] | FAULT_BITS["nickname"] | FAULT_BITS["name_swap"] | FAULT_BITS["charset_folded"]
        pos = pd.Index(acc.index).get_indexer(rec["account"].to_numpy())
        n_rows = len(rec)
        bits = b1[pos].astype(np.int32)
        bits2 = (b2 & name_bits)[pos].astype(np.int32)
        arrears = rec["arrears"].to_numpy().copy()
        stage = np.asarray(STAGE_CODES, dtype=object)[rec["stage"].to_numpy()]
        bad = self.impossible(n_rows, bits)
        neg = bad & (self.rng.random(n_rows) < 0.5)
        arrears[neg] = -np.abs(arrears[neg]) - 1
        stage[bad & ~neg] = "XX9"
        money = np.asarray([f"{a:.2f}" for a in arrears], dtype=object)
        txt = self.rng.random(n_rows) < self.rates.money_as_text
        money[txt] = [f"£{a:,.2f}" for a in arrears[txt]]
        bits |= np.where(txt, FAULT_BITS["money_as_text"], 0).astype(np.int32)
        bal_day = self.month_end[rec["month"].to_numpy()]
        df = pd.DataFrame({
            "ACCOUNT_REF": refs[pos], "PROPERTY_REF": self.uprn[rec["prop"].to_numpy()],
            "LIABLE_NAME_1": name1[pos], "LIABLE_DOB_1": days_to_str(p1["dob"], "%d/%m/%Y")[pos],
            "LIABLE_NAME_2": name2[pos], "BALANCE_DATE": days_to_str(bal_day, "%d/%m/%Y"),
            "ARREARS": money, "RECOVERY_STAGE": stage, "SPD": np.where(rec["spd"], "Y", "N"),
            "CTR_WEEKLY": rec["ctr_weekly"].map("{:.2f}".format), "ACC_START": days_to_str(rec["start_day"].to_numpy(), "%d/%m/%Y"),
            "ACC_END": days_to_str(rec["end_day"].to_numpy(), "%d/%m/%Y"),
        })  # fmt: skip
        keys = pd.DataFrame({"record": refs[pos], "person_id": rec["person1"].to_numpy(), "person2_id": rec["person2"].to_numpy(),
                             "true_uprn": self.uprn[rec["prop"].to_numpy()], "event_day": bal_day})  # fmt: skip
        self.emit("council_tax", df, bal_day, bits, keys, daily=False, bits2=bits2)

    def _rent_accounts(self) -> None:
        rec = self.w.rec["rent_accounts"].frame()
        if rec.empty:
            return
        ten = rec.drop_duplicates("tenancy").set_index("tenancy")
        p1, b1 = self.person_fields(ten["person1"].to_numpy(), self.rates.dob_missing)
        p2, b2 = self.person_fields(ten["person2"].to_numpy(), self.rates.dob_missing)
        pos = pd.Index(ten.index).get_indexer(rec["tenancy"].to_numpy())
        refs = np.asarray([f"T{700000 + int(t):07d}" for t in ten.index])
        bits = b1[pos].astype(np.int32)
        bits2 = b2[pos].astype(np.int32)
        n = len(rec)
        arrears = rec["arrears"].to_numpy().copy()
        bad = self.impossible(n, bits)
        arrears[bad] = -np.abs(arrears[bad]) - 1
        snap = self.month_end[rec["month"].to_numpy()]
        fmt = SOURCES["rent_accounts"]["date"]
        ttype = rec["ttype"].to_numpy().astype(object)
        df = pd.DataFrame({
            "TENANCY_REF": refs[pos], "UPRN": self.uprn[rec["prop"].to_numpy()],
            "TENANT1_FORENAME": p1["first"][pos], "TENANT1_SURNAME": p1["last"][pos],
            "TENANT1_DOB": days_to_str(p1["dob"], fmt)[pos], "TENANT2_FORENAME": p2["first"][pos],
            "TENANT2_SURNAME": p2["last"][pos], "TENANT2_DOB": days_to_str(p2["dob"], fmt)[pos],
            "TENANCY_TYPE": ttype, "TENANCY_START": days_to_str(rec["start_day"].to_numpy(), fmt),
            "TENANCY_END": days_to_str(rec["end_day"].to_numpy(), fmt), "WEEKLY_RENT": rec["weekly_rent"].map("{:.2f}".format),
            "ARREARS_BAL": np.char.mod("%.2f", arrears), "NOSP_DATE": days_to_str(rec["nsp_day"].to_numpy(), fmt),
            "POSS_ORDER_DATE": days_to_str(rec["order_day"].to_numpy(), fmt),
            "EVICTION_DATE": days_to_str(rec["eviction_day"].to_numpy(), fmt), "SNAPSHOT_DATE": days_to_str(snap, fmt),
        })  # fmt: skip
        keys = pd.DataFrame({"record": refs[pos], "person_id": rec["person1"].to_numpy(), "person2_id": rec["person2"].to_numpy(),
                             "true_uprn": self.uprn[rec["prop"].to_numpy()], "event_day": snap})  # fmt: skip
        self.emit("rent_accounts", df, snap, bits, keys, daily=False, bits2=bits2)

    def _event_people(self, source: str, rec: pd.DataFrame, person_col: str, day_col: str) -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:
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
        uprn_given = np.where((shown >= 0) & (self.rng.random(n) < 0.7), self.uprn[np.maximum(shown, 0)].astype(object), "")
        df = pd.DataFrame({
            "CLAIM_REF": [f"HB{c:08d}" for c in rec["claim"]], "EVENT_TYPE": rec["event"], "EVENT_DATE": self.dates("benefits", day, bits),
            "CLMT_FORENAME": who["first"], "CLMT_SURNAME": who["last"], "CLMT_DOB": days_to_str(dob, fmt), "CLMT_NINO": who["nino"],
            "PTNR_FORENAME": part["first"], "PTNR_SURNAME": part["last"], "PTNR_DOB": days_to_str(part["dob"], fmt), "PTNR_NINO": part["nino"],
            "ADDRESS": where["address"], "POSTCODE": where["postcode"], "UPRN": uprn_given,
            "HB_WEEKLY": rec["hb_weekly"].map("{:.2f}".format), "CTR_WEEKLY": rec["ctr_weekly"].map("{:.2f}".format),
            "UC_FLAG": np.where(rec["uc"], "Y", "N"), "NUM_DEPENDANTS": rec["dependants"], "DISABILITY_PREMIUM": np.where(rec["disability"], "Y", "N"),
            "ENTRY_DATE": days_to_str(known, fmt),
        })  # fmt: skip
        self.emit("benefits", df, known, bits, self._keys(rec, "claim", "person", day, shown, partner=rec["partner"].to_numpy()),
                  bits2=b3)

    def _keys(self, rec: pd.DataFrame, rec_col: str, person_col: str, day: np.ndarray, shown: np.ndarray,
              partner: np.ndarray | None = None) -> pd.DataFrame:  # fmt: skip
        return pd.DataFrame({
            "record": rec[rec_col].astype(str).to_numpy(), "person_id": rec[person_col].to_numpy(),
            "person2_id": partner if partner is not None else np.full(len(rec), -1),
            "true_uprn": self.uprn[rec["prop"].to_numpy()], "address_uprn": np.where(shown >= 0, self.uprn[np.maximum(shown, 0)], -1),
            "event_day": day,
        })  # fmt: skip

    def _versions(self, rec: pd.DataFrame, open_day: np.ndarray, close_day: np.ndarray, known_open: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    def _homelessness_cases(self) -> None:
        rec = self.w.rec["homelessness_cases"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("homelessness_cases", rec, "person", "approach_day")
        known_open = self.late(day, bits)
        idx, is_close, known = self._versions(rec, day, rec["close_day"].to_numpy(), known_open)
        pe = self.w.people
        person = rec["person"].to_numpy()
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
        outcome = rec["outcome"].map({"stayed": "PREV_STAY", "moved": "PREV_MOVE", "relief": "RELIEF_SECURED",
                                      "main_duty_ta": "MAIN_DUTY", "advice_only": "ADVICE"}).to_numpy()  # fmt: skip
        df = pd.DataFrame({
            "CASE_ID": [f"HC{c:07d}" for c in rec["case"]], "APPROACH_DATE": self.dates("homelessness_cases", day, bits),
            "APP_FORENAME": who["first"], "APP_SURNAME": who["last"], "APP_DOB": days_to_str(who["dob"], fmt), "APP_NINO": who["nino"],
            "LAST_SETTLED_ADDRESS": where["address"], "LAST_SETTLED_POSTCODE": where["postcode"], "INITIAL_DUTY": duty,
            "REASON_LOSS": reason, "HOUSEHOLD_TYPE": hh_type, "SEX": sex, "ETHNICITY": eth, "DISABILITY": dis,
            "OUTCOME": "", "CLOSE_DATE": "", "RECORD_UPDATED": "",
        })  # fmt: skip
        df = df.iloc[idx].reset_index(drop=True)
        df.loc[is_close, "OUTCOME"] = outcome[idx[is_close]]
        df.loc[is_close, "CLOSE_DATE"] = days_to_str(rec["close_day"].to_numpy()[idx[is_close]], fmt)
        df["RECORD_UPDATED"] = days_to_str(known, fmt)
        keys = self._keys(rec, "case", "person", day, shown).iloc[idx].reset_index(drop=True)
        self.emit("homelessness_cases", df, known, bits[idx], keys)

    def _childrens_services(self) -> None:
        rec = self.w.rec["childrens_services"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("childrens_services", rec, "person", "referral_day")
        c1, b1 = self.person_fields(rec["carer1"].to_numpy(), 1.0)
        c2, b2 = self.person_fields(rec["carer2"].to_numpy(), 1.0)
        carer_bits = (b1 | b2) & ~FAULT_BITS["dob_missing"]
        known_open = self.late(day, bits)
        idx, is_close, known = self._versions(rec, day, rec["close_day"].to_numpy(), known_open)
        pe = self.w.people
        person = rec["person"].to_numpy()
        fmt = SOURCES["childrens_services"]["date"]
        carer = lambda c: np.where(c["first"] != "", pd.Series(c["first"]) + " " + pd.Series(c["last"]), "")  # noqa: E731
        df = pd.DataFrame({
            "REFERRAL_ID": [f"CS{r:07d}" for r in rec["referral"]], "CHILD_FORENAME": who["first"], "CHILD_SURNAME": who["last"],
            "CHILD_DOB": days_to_str(who["dob"], fmt), "CARER1_NAME": carer(c1), "CARER2_NAME": carer(c2),
            "ADDRESS": where["address"], "POSTCODE": where["postcode"], "REFERRAL_DATE": self.dates("childrens_services", day, bits),
            "CATEGORY": rec["category"], "SOURCE": rec["source"], "CLOSE_DATE": "",
            "ETHNICITY": np.asarray(ETH_SYSTEM, dtype=object)[pe["eth"][person]], "DISABILITY": np.where(pe["disabled"][person], "Y", "N"),
            "LAST_MODIFIED": "",
        })  # fmt: skip
        df = df.iloc[idx].reset_index(drop=True)
        df.loc[is_close, "CLOSE_DATE"] = days_to_str(rec["close_day"].to_numpy()[idx[is_close]], fmt)
        df["LAST_MODIFIED"] = days_to_str(known, fmt)
        keys = self._keys(rec, "referral", "person", day, shown, partner=rec["carer1"].to_numpy()).iloc[idx].reset_index(drop=True)
        self.emit("childrens_services", df, known, bits[idx], keys, bits2=carer_bits[idx])

    def _adult_social_care(self) -> None:
        rec = self.w.rec["adult_social_care"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("adult_social_care", rec, "person", "start_day")
        known_open = self.late(day, bits)
        idx, is_close, known = self._versions(rec, day, rec["end_day"].to_numpy(), known_open)
        pe = self.w.people
        person = rec["person"].to_numpy()
        fmt = SOURCES["adult_social_care"]["date"]
        df = pd.DataFrame({
            "PERSON_ID": [f"M{p:08d}" for p in person], "FORENAME": who["first"], "SURNAME": who["last"],
            "DOB": days_to_str(who["dob"], fmt), "ADDRESS": where["address"], "POSTCODE": where["postcode"],
            "PRIMARY_SUPPORT_REASON": rec["reason"], "START_DATE": self.dates("adult_social_care", day, bits), "END_DATE": "",
            "SEX": np.where(pe["sex"][person] == 1, "M", "F"), "ETHNICITY": np.asarray(ETH_SYSTEM, dtype=object)[pe["eth"][person]],
            "DISABILITY": np.where(pe["disabled"][person], "Y", "N"), "UPDATED": "",
        })  # fmt: skip
        df = df.iloc[idx].reset_index(drop=True)
        df.loc[is_close, "END_DATE"] = days_to_str(rec["end_day"].to_numpy()[idx[is_close]], fmt)
        df["UPDATED"] = days_to_str(known, fmt)
        keys = self._keys(rec, "episode", "person", day, shown).iloc[idx].reset_index(drop=True)
        self.emit("adult_social_care", df, known, bits[idx], keys)

    def _asb_incidents(self) -> None:
        rec = self.w.rec["asb_incidents"].frame()
        if rec.empty:
            return
        person = rec["person"].to_numpy()
        day = rec["day"].to_numpy().astype(np.int64)
        month = np.searchsorted(self.month_end, day, side="left")
        where, bits, shown = self.address_fields(np.full(len(rec), -1), rec["prop"].to_numpy(), month)
        known = self.late(day, bits)
        pc = where["postcode"].copy()
        pc[self.rng.random(len(rec)) < 0.4] = ""
        df = pd.DataFrame({
            "INCIDENT_REF": [f"ASB{i:07d}" for i in rec["incident"]],
            "INCIDENT_DATE": self.dates("asb_incidents", day, bits), "LOCATION_TEXT": where["address"], "POSTCODE": pc,
            "CATEGORY": rec["category"], "ROLE": rec["role"], "RECORDED_DATE": days_to_str(known, SOURCES["asb_incidents"]["date"]),
        })  # fmt: skip
        keys = self._keys(rec, "incident", "person", day, shown)
        keys["person_id"] = np.where(True, person, person)
        self.emit("asb_incidents", df, known, bits, keys)

    def _education(self) -> None:
        rec = self.w.rec["education"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("education", rec, "person", "term_end_day")
        known = day + self.rng.integers(10, 40, day.size)
        fmt = SOURCES["education"]["date"]
        upn = self.w.people["upn"][rec["person"].to_numpy()]
        df = pd.DataFrame({
            "UPN": upn, "FORENAME": who["first"], "SURNAME": who["last"], "DOB": days_to_str(who["dob"], fmt),
            "ADDRESS": where["address"], "POSTCODE": where["postcode"], "TERM": rec["term"],
            "FSM_ELIGIBLE": np.where(rec["fsm"], "Y", "N"), "PERSISTENT_ABSENCE": np.where(rec["persistent_absence"], "Y", "N"),
            "SUSPENSIONS": rec["suspensions"], "EXCLUSION_DATE": days_to_str(rec["exclusion_day"].to_numpy(), fmt),
        })  # fmt: skip
        keys = self._keys(rec, "person", "person", day, shown)
        self.emit("education", df, known, bits, keys)

    def _deaths(self) -> None:
        rec = self.w.rec["deaths"].frame()
        if rec.empty:
            return
        who, where, bits, shown, day = self._event_people("deaths", rec, "person", "death_day")
        notified = rec["notified_day"].to_numpy().astype(np.int64)
        fmt = SOURCES["deaths"]["date"]
        df = pd.DataFrame({
            "NOTIFICATION_ID": [f"TUO{i:07d}" for i in rec["notification"]], "DECEASED_FORENAME": who["first"],
            "DECEASED_SURNAME": who["last"], "DOB": days_to_str(who["dob"], fmt), "ADDRESS": where["address"],
            "POSTCODE": where["postcode"], "DATE_OF_DEATH": self.dates("deaths", day, bits), "DATE_NOTIFIED": days_to_str(notified, fmt),
        })  # fmt: skip
        self.emit("deaths", df, notified, bits, self._keys(rec, "notification", "person", day, shown))

    def _objections(self) -> None:
        rec = self.w.rec["objections"].frame()
        if rec.empty:
            rec = pd.DataFrame({k: np.zeros(0, np.int64) for k in ("objection", "person", "prop", "received_day", "decided_day")} | {"status": np.zeros(0, object)})
        who, where, bits, shown, day = self._event_people("objections", rec, "person", "received_day")
        decided = rec["decided_day"].to_numpy().astype(np.int64)
        fmt = SOURCES["objections"]["date"]
        df = pd.DataFrame({
            "OBJECTION_ID": [f"OBJ{i:06d}" for i in rec["objection"]],
            "FULL_NAME": pd.Series(who["first"], dtype=object) + " " + pd.Series(who["last"], dtype=object),
            "DOB": days_to_str(who["dob"], fmt), "ADDRESS": where["address"], "POSTCODE": where["postcode"],
            "RISKFLAG_HH_REF": "", "DATE_RECEIVED": days_to_str(day, fmt), "SCOPE": "profiling for prevention",
            "STATUS": rec["status"], "DECISION_DATE": days_to_str(decided, fmt),
        })  # fmt: skip
        if len(df):
            self.emit("objections", df, decided, bits, self._keys(rec, "objection", "person", day, shown))

    def _contacts(self) -> None:
        df = pd.DataFrame(columns=["HH_REF", "CONTACT_DATE", "OUTCOME", "SUPPORT_OFFERED"])
        self.o.write("contacts", "contacts_empty.csv", df)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
