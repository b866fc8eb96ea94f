"""Month-by-month simulation of the synthetic borough.

The simulation keeps the truth (who lives where, every family's hidden state) and, as it
goes, what each council system would record. Extract files are written afterwards by
riskflag.synth.extracts, which also injects the faults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskflag.config import SOURCE_NAMES
from riskflag.synth import chain as ch
from riskflag.synth.emit import emit_month
from riskflag.synth.gazetteer import Gazetteer, build, out_of_borough_addresses
from riskflag.synth.names import ETHNICITY_SHARE, NamePools, nino
from riskflag.synth.oracle import snapshot

EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class WorldParams:
    """The world's stated defaults (synthetic-council.md)."""

    tenure_mix: tuple[float, float, float] = (0.64, 0.19, 0.17)
    vacancy: tuple[float, float, float] = (0.03, 0.09, 0.03)
    ta_share_of_social: float = 0.03
    social_reserve: float = 0.01
    young_at_home: tuple[float, float, float] = (0.10, 0.05, 0.08)
    staying_with_others: float = 0.006
    advice_only_rate: float = 0.0008
    # An experiment, off by default (docs/model.md, "Why the model is far from the oracle"):
    # families ask for housing advice because of a threat the council's other systems may not
    # see, each month with these chances by cause: a notice, order or enforcement against their
    # home (by L), a young adult's conflict with parents (by R), a couple's strain or abuse (by
    # R), staying with others, hidden stress; advice_only_rate stays as the chance otherwise.
    advice_from_threats: bool = False
    advice_legal: tuple = (0.0, 0.25, 0.40, 0.50)
    advice_conflict: tuple = (0.0, 0.06, 0.20)
    advice_relationship: tuple = (0.0, 0.03, 0.10)
    advice_with_others: float = 0.08
    advice_stress: float = 0.03
    cs_referral: tuple = (0.0015, 0.008, 0.035, 0.006, 0.004)  # base, strained, abuse, stress, unemployed
    asb: tuple = (0.0015, 0.03, 0.004, 0.004)  # base, abuse, stress, staying with others
    objection_rate: float = 0.00003
    chain: ch.ChainParams = field(default_factory=ch.ChainParams)


_INIT_TYPE = {  # primary family type by tenure: single, couple, lone parent, couple+kids, older
    ch.OWNER: (0.14, 0.28, 0.04, 0.26, 0.28),
    ch.PRIVATE: (0.35, 0.22, 0.13, 0.22, 0.08),
    ch.SOCIAL: (0.30, 0.08, 0.22, 0.12, 0.28),
}


class Records:
    """Column chunks of one source's records, concatenated at the end."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []

    def add(self, **cols: np.ndarray) -> None:
        n = {len(np.atleast_1d(v)) for v in cols.values()}
        if n == {0}:
            return
        size = max(n)
        chunk = {}
        for k, v in cols.items():
            a = np.broadcast_to(np.asarray(v), (size,)).copy() if np.ndim(v) == 0 else np.asarray(v)
            if a.dtype == np.int64 and a.size and a.min() > -(2**31) and a.max() < 2**31:
                a = a.astype(np.int32)  # halves the memory of a large council's records
            chunk[k] = a
        self.chunks.append(chunk)

    def frame(self, consume: bool = False) -> pd.DataFrame:
        """All records as one table; consume=True frees the chunks as it goes (large councils)."""
        if not self.chunks:
            return pd.DataFrame()
        keys = list(self.chunks[0].keys())
        cols = {}
        for k in keys:
            cols[k] = np.concatenate([c[k] for c in self.chunks])
            if consume:
                for c in self.chunks:
                    del c[k]
        if consume:
            self.chunks = []
        return pd.DataFrame(cols, copy=False)


class Grow:
    """Column arrays with spare capacity, so that adding people and families is cheap."""

    def __init__(self, spec: Mapping[str, tuple[type, object]], capacity: int) -> None:
        self.spec = spec
        self.n = 0
        self.cols: dict[str, np.ndarray] = {}
        for k, (dt, fill) in spec.items():
            self.cols[k] = np.full(capacity, fill, dtype=dt)

    def __getitem__(self, k: str) -> np.ndarray:
        return self.cols[k][: self.n]

    def add(self, count: int, **values: object) -> np.ndarray:
        if self.n + count > self.cols[next(iter(self.cols))].shape[0]:
            cap = max(2 * (self.n + count), 1024)
            for k, (dt, fill) in self.spec.items():
                new: np.ndarray = np.full(cap, fill, dtype=dt)
                new[: self.n] = self.cols[k][: self.n]
                self.cols[k] = new
        idx = np.arange(self.n, self.n + count)
        for k, v in values.items():
            self.cols[k][idx] = v
        self.n += count
        return idx


PERSON_SPEC = {
    "first": (object, ""),
    "last": (object, ""),
    "sex": (np.int8, 0),
    "dob": (np.int32, 0),
    "eth": (np.int8, 0),
    "disabled": (np.bool_, False),
    "nino": (object, ""),
    "family": (np.int32, -1),
    "role": (np.int8, 0),
    "prop": (np.int32, -1),
    "exit_month": (np.int16, -1),
    "exit_kind": (np.int8, 0),
    "upn": (object, ""),
    "asc_reason": (np.int8, -1),
    "asc_open": (np.bool_, False),
    "asc_end": (np.int16, -1),
    "objected": (np.int16, -1),
    "oob_addr": (np.int32, -1),
    "born_month": (np.int16, -999),
}
FAMILY_SPEC = {
    **{v: (np.int8, 0) for v in ch.VARS},
    "lead": (np.int32, -1),
    "partner": (np.int32, -1),
    "prop": (np.int32, -1),
    "status": (np.int8, 0),
    "release": (np.int16, -1),
    "claim": (np.int32, -1),
    "capped": (np.bool_, False),
    "ndd": (np.bool_, False),
    "cs_open": (np.int32, -1),
    "rent_weeks": (np.float32, 0.0),
    "nsp_day": (np.int32, -1),
    "order_day": (np.int32, -1),
}
ACTIVE, IN_CASE, IN_TA, GONE = 0, 1, 2, 3


class World:
    """The simulated borough. Every random draw comes from one seeded generator."""

    def __init__(
        self,
        households: int,
        months: int,
        seed: int,
        start: str,
        params: WorldParams | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.params = params or WorldParams()
        self.chain = ch.Chain(self.params.chain)
        self.rng = np.random.default_rng(seed)
        self.months = months
        self.start = np.datetime64(start, "M")
        self.progress = progress
        self.names = NamePools()
        self.target_households = households
        self.month_start = np.asarray([(self.start + m).astype("datetime64[D]") for m in range(months + 14)])
        self.month_days = np.diff(self.month_start).astype(int)
        reference = ("llpg", "area_deprivation", "contacts")  # not recorded month by month
        self.rec: dict[str, Records] = {k: Records() for k in SOURCE_NAMES if k not in reference}
        self.spells = Records()
        self.snapshots: dict[int, dict[str, np.ndarray]] = {}
        self.counters: dict[str, int] = {"move_fallbacks": 0}
        self.cases_open: dict[int, str] = {}  # family -> outcome of its open case
        self.leaving: list[tuple[int, np.ndarray, np.ndarray]] = []  # (month, homes left, evicted)
        self.acc: dict[str, list] = {k: [] for k in ("prop", "family", "start", "end", "arrears", "misses")}
        self.ten: dict[str, list] = {k: [] for k in ("prop", "family", "start", "end", "evicted")}
        self.accounts_opened = False
        # accounts and tenancies that ended this month still get its record (emit)
        self.closed_acc: np.ndarray = np.zeros(0, np.int64)
        self.closed_ten: np.ndarray = np.zeros(0, np.int64)
        self._ids = {
            "case": 0,
            "claim": 0,
            "cs": 0,
            "asc": 0,
            "asb": 0,
            "death": 0,
            "objection": 0,
            "ct": 0,
            "tenancy": 0,
            "upn": 0,
        }

    # --- helpers -----------------------------------------------------------------------

    def _next_ids(self, kind: str, n: int) -> np.ndarray:
        a = self._ids[kind]
        self._ids[kind] = a + n
        return np.arange(a, a + n)

    def day_in_month(self, m: int, n: int) -> np.ndarray:
        """Uniform day of month m as days since epoch."""
        d = self.rng.integers(0, self.month_days[m], n)
        return (self.month_start[m] - EPOCH).astype(int) + d

    def month_end_day(self, m: int) -> int:
        return int((self.month_start[m + 1] - EPOCH).astype(int)) - 1

    # --- people ------------------------------------------------------------------------

    def new_people(
        self,
        n: int,
        age_lo: np.ndarray,
        age_hi: np.ndarray,
        month: int,
        eth: np.ndarray | None = None,
        sex: np.ndarray | None = None,
        last: np.ndarray | None = None,
    ) -> np.ndarray:
        rng = self.rng
        if n == 0:
            return np.zeros(0, np.int64)
        if eth is None:
            eth = rng.choice(len(ETHNICITY_SHARE), n, p=np.asarray(ETHNICITY_SHARE) / sum(ETHNICITY_SHARE))
        if sex is None:
            sex = rng.integers(0, 2, n)
        first, surname = self.names.draw(rng, eth, sex)
        if last is not None:
            keep = np.asarray([x is not None for x in last])
            surname[keep] = last[keep]
        ref = (self.month_start[max(month, 0)] - EPOCH).astype(int)
        age_days = (rng.uniform(age_lo, age_hi + 1) * 365.25).astype(int)
        dob = ref - age_days
        adult = age_days >= 16 * 365.25
        ni = np.where(adult & (rng.random(n) > 0.04), nino(rng, n), "")
        return self.people.add(
            n,
            first=first,
            last=surname,
            sex=sex,
            dob=dob,
            eth=eth,
            disabled=rng.random(n) < np.where(age_days > 50 * 365, 0.16, 0.07),
            nino=ni,
            born_month=month,
        )

    # --- initial population ------------------------------------------------------------

    def initialise(self) -> None:
        rng, p = self.rng, self.params
        n_props = int(self.target_households / (1 - np.dot(p.tenure_mix, p.vacancy)) * 1.005)
        self.gaz: Gazetteer = build(rng, n_props, p.tenure_mix)
        props = self.gaz.props
        self.n_props = len(props)
        self.tenure = props["tenure"].to_numpy().copy()
        social = np.flatnonzero(self.tenure == ch.SOCIAL)
        self.is_ta = np.zeros(self.n_props, bool)
        self.is_ta[rng.choice(social, int(len(social) * p.ta_share_of_social), replace=False)] = True
        self.dep = (10 - props["imd_decile"].to_numpy()) / 9.0
        self.weekly_rent = np.where(
            self.tenure == ch.SOCIAL, rng.uniform(85, 140, self.n_props), rng.uniform(150, 320, self.n_props)
        ).round(2)
        self.ct_bill = (95 + 22 * props["band"].to_numpy() + rng.uniform(-5, 5, self.n_props)).round(2)
        self.oob_addr, self.oob_pc = out_of_borough_addresses(rng, 4000)

        cap_p = int(self.target_households * 3.6)
        self.people = Grow(PERSON_SPEC, cap_p)
        self.fam = Grow(FAMILY_SPEC, int(self.target_households * 1.6))

        vac = np.asarray(p.vacancy)[self.tenure]
        occupied = (rng.random(self.n_props) > vac) & ~self.is_ta
        occ = np.flatnonzero(occupied)
        t = self.tenure[occ]
        ctype = self._draw_types(t)
        hmo = props["class_code"].to_numpy()[occ] == "RH02"
        ctype[hmo] = ch.SINGLE
        fam_prop = [occ]
        fam_type = [ctype]
        fam_t = [t]
        # extra single families in houses in multiple occupation
        extra = np.repeat(occ[hmo], rng.integers(1, 5, hmo.sum()))
        fam_prop.append(extra)
        fam_type.append(np.full(extra.size, ch.SINGLE, np.int8))
        fam_t.append(np.full(extra.size, ch.PRIVATE, np.int8))
        # young adults at home
        host_types = (ch.COUPLE, ch.COUPLE_KIDS, ch.OLDER, ch.LONE_PARENT)
        ya_host = occ[np.isin(ctype, host_types) & (rng.random(occ.size) < np.asarray(p.young_at_home)[t])]
        fam_prop.append(ya_host)
        fam_type.append(np.full(ya_host.size, ch.YOUNG_AT_HOME, np.int8))
        fam_t.append(np.full(ya_host.size, ch.WITH_OTHERS, np.int8))
        # people staying with others
        sofa = occ[rng.random(occ.size) < p.staying_with_others]
        fam_prop.append(sofa)
        fam_type.append(rng.choice([ch.SINGLE, ch.LONE_PARENT], sofa.size, p=[0.8, 0.2]).astype(np.int8))
        fam_t.append(np.full(sofa.size, ch.WITH_OTHERS, np.int8))
        # temporary accommodation already occupied
        ta = np.flatnonzero(self.is_ta)
        ta = ta[rng.random(ta.size) < 0.7]
        fam_prop.append(ta)
        fam_type.append(rng.choice([0, 2, 3], ta.size, p=[0.4, 0.45, 0.15]).astype(np.int8))
        fam_t.append(np.full(ta.size, ch.SOCIAL, np.int8))
        props_all = np.concatenate(fam_prop)
        types_all = np.concatenate(fam_type)
        t_all = np.concatenate(fam_t)
        status = np.zeros(props_all.size, np.int8)
        if ta.size:
            status[-ta.size :] = IN_TA
        self._create_families(props_all, types_all, t_all, month=-1, status=status, burn_in=24)
        f = self.fam
        in_ta = f["status"] == IN_TA
        f.cols["release"][: f.n][in_ta] = rng.integers(1, 14, in_ta.sum())
        f.cols["P"][: f.n][in_ta] = 1
        self.prop_primary = np.full(self.n_props, -1, np.int32)
        self.prop_account = np.full(self.n_props, -1, np.int32)
        self.prop_tenancy = np.full(self.n_props, -1, np.int32)
        self._refresh_people_props(-1)

    def _create_families(
        self,
        props: np.ndarray,
        ctype: np.ndarray,
        tenure: np.ndarray,
        month: int,
        status: np.ndarray | None = None,
        burn_in: int = 0,
        state: dict | None = None,
        lead: np.ndarray | None = None,
    ) -> np.ndarray:
        """New families with their people. state/lead: for a family formed by existing people."""
        rng, n = self.rng, props.size
        if n == 0:
            return np.zeros(0, np.int64)
        dep = self.dep[props]
        if state is None:
            z = (rng.random(n) < 0.12 + 0.45 * dep).astype(np.int8)
            e0 = np.where(z[:, None] == 1, [[0.55, 0.25, 0.20]], [[0.82, 0.12, 0.06]])
            state = {
                "Z": z,
                "V": (rng.random(n) < 0.06).astype(np.int8),
                "P": (rng.random(n) < np.where(tenure == ch.SOCIAL, 0.06, 0.02)).astype(np.int8),
                "E": ch._draw(e0, rng, n),
                "U": (rng.random(n) < np.where(z == 1, 0.12, 0.05)).astype(np.int8),
                "R": np.zeros(n, np.int8),
                "C": ctype.astype(np.int8),
                "A": np.zeros(n, np.int8),
                "L": np.zeros(n, np.int8),
                "T": tenure.astype(np.int8),
            }
            couples = np.isin(ctype, (ch.COUPLE, ch.COUPLE_KIDS))
            state["R"][couples] = ch._draw(np.tile([0.9, 0.08, 0.02], (couples.sum(), 1)), rng, couples.sum())
            young = ctype == ch.YOUNG_AT_HOME
            if young.any():
                ys = self.chain.sample_young(state["Z"][young], state["V"][young], rng)
                for k in ch.VARS:
                    state[k][young] = ys[k]
            state["E"][ctype == ch.OLDER] = ch.STABLE
            for _ in range(burn_in):
                state = self._burn_step(state)
        fids = self.fam.add(
            n,
            prop=props,
            status=0 if status is None else status,
            **{k: state[k] for k in ch.VARS},
        )
        # people
        fresh = lead is None
        if fresh:
            age_lo = np.select(
                [ctype == ch.OLDER, ctype == ch.YOUNG_AT_HOME, ctype == ch.SINGLE], [65, 18, 18], 22
            ).astype(float)
            age_hi = np.select(
                [ctype == ch.OLDER, ctype == ch.YOUNG_AT_HOME, ctype == ch.LONE_PARENT], [92, 30, 52], 64
            ).astype(float)
            lead = self.new_people(n, age_lo, age_hi, max(month, 0))
        self.fam.cols["lead"][fids] = lead
        pe = self.people.cols
        pe["family"][lead] = fids
        pe["role"][lead] = 0
        if fresh:
            has_partner = np.isin(ctype, (ch.COUPLE, ch.COUPLE_KIDS)) | (
                (ctype == ch.OLDER) & (rng.random(n) < 0.55)
            )
            self._add_partners(fids[has_partner], month)
            if month < 0:
                self._add_initial_children(fids[np.isin(ctype, ch.KID_TYPES)])
        return fids

    def _draw_types(self, tenure: np.ndarray) -> np.ndarray:
        """The type of a family newly in a home, by the home's tenure."""
        ctype = np.empty(tenure.size, np.int8)
        for ten, mix in _INIT_TYPE.items():
            sel = tenure == ten
            ctype[sel] = self.rng.choice([0, 1, 2, 3, 4], sel.sum(), p=mix)
        return ctype

    def _burn_step(self, s: dict) -> dict:
        """A month of the chain with composition and home held fixed (initial histories)."""
        rng, c = self.rng, self.chain
        n = s["E"].shape[0]
        new = {k: s[k] for k in ("Z", "V", "P", "C", "T")}
        new["E"] = ch._draw(c.cpt_E[s["Z"], s["C"], s["E"]], rng, n)
        new["U"] = ch._draw(c.cpt_U[s["Z"], s["U"]], rng, n)
        new["R"] = ch._draw(c.cpt_R[s["C"], new["E"], new["U"], s["R"]], rng, n)
        zero = np.zeros(n, np.int8)
        new["A"] = ch._draw(c.cpt_A[s["T"], s["C"], new["E"], new["U"], zero, s["A"]], rng, n)
        lt = c.cpt_L[s["T"], s["C"], new["A"], new["U"], zero, s["L"]].copy()
        lt[:, 3] = 0  # no evictions during burn-in: nobody can move
        lt /= lt.sum(axis=1, keepdims=True)
        new["L"] = ch._draw(lt, rng, n)
        return new

    def _add_partners(self, fids: np.ndarray, month: int) -> None:
        rng, pe, f = self.rng, self.people.cols, self.fam.cols
        lead = f["lead"][fids]
        n = fids.size
        if n == 0:
            return
        lead_age = ((self.month_start[max(month, 0)] - EPOCH).astype(int) - pe["dob"][lead]) / 365.25
        age = np.clip(lead_age + rng.normal(0, 4, n), 18, 95)
        same_eth = rng.random(n) < 0.85
        eth = np.where(
            same_eth, pe["eth"][lead], rng.choice(7, n, p=np.asarray(ETHNICITY_SHARE) / sum(ETHNICITY_SHARE))
        )
        sex = np.where(rng.random(n) < 0.96, 1 - pe["sex"][lead], pe["sex"][lead])
        share = rng.random(n) < 0.7
        last = pe["last"][lead]  # an object array, and a copy: fancy indexing
        last[~share] = None
        pid = self.new_people(n, age, age, max(month, 0), eth=eth, sex=sex, last=last)
        f["partner"][fids] = pid
        pe["family"][pid] = fids
        pe["role"][pid] = 1

    def _add_initial_children(
        self, fids: np.ndarray, month: int = 0, counts: tuple[float, ...] = (0.42, 0.38, 0.14, 0.06)
    ) -> None:
        """Children of families already formed when they enter the simulation."""
        rng, pe, f = self.rng, self.people.cols, self.fam.cols
        k = rng.choice(np.arange(1, len(counts) + 1), fids.size, p=counts)
        fam_rep = np.repeat(fids, k)
        lead_age = ((self.month_start[month] - EPOCH).astype(int) - pe["dob"][f["lead"][fam_rep]]) / 365.25
        age = rng.uniform(0, 1, fam_rep.size) * np.clip(lead_age - 17, 0.2, 17.9)
        self._add_children(fam_rep, age, month)

    def _add_children(self, fam_rep: np.ndarray, age: np.ndarray, month: int) -> None:
        pe, f = self.people.cols, self.fam.cols
        lead = f["lead"][fam_rep]
        pid = self.new_people(fam_rep.size, age, age, month, eth=pe["eth"][lead], last=pe["last"][lead])
        pe["family"][pid] = fam_rep
        pe["role"][pid] = 2
        pe["upn"][pid] = [
            f"W{9000000000 + i:011d}{'ABCDEFGHJK'[i % 10]}" for i in self._next_ids("upn", pid.size)
        ]

    # --- properties --------------------------------------------------------------------

    def occupancy(self) -> np.ndarray:
        f = self.fam
        here = f["status"] != GONE
        return np.bincount(f["prop"][here], minlength=self.n_props)

    def pick_homes(self, tenure: np.ndarray, chain: bool = True) -> np.ndarray:
        """A distinct vacant home of each requested tenure; staying with others: any
        occupied home that is not temporary accommodation.

        Moves the chain drew (chain=True) keep their tenure even when no home of it is free
        (they then share an occupied one, counted in move_fallbacks), because the oracle
        relies on it. Moves after a case closes are the council's doing: when no social home
        is free, a private let is found instead."""
        rng = self.rng
        occ = self.occupancy()
        out = np.full(tenure.size, -1, np.int64)
        tenure = tenure.copy()
        taken = np.zeros(self.n_props, bool)
        for t in (ch.SOCIAL, ch.OWNER, ch.PRIVATE):
            want = np.flatnonzero(tenure == t)
            if want.size == 0:
                continue
            free = np.flatnonzero((occ == 0) & (self.tenure == t) & ~self.is_ta & ~taken)
            if not chain and t == ch.SOCIAL:
                # the allocations policy keeps a few lets back for transfers and emergencies
                keep_back = int(self.params.social_reserve * ((self.tenure == t) & ~self.is_ta).sum())
                free = free[: max(0, free.size - keep_back)]
            take = min(want.size, free.size)
            out[want[:take]] = rng.choice(free, take, replace=False)
            taken[out[want[:take]]] = True
            short = want[take:]
            if short.size and t in (ch.OWNER, ch.PRIVATE):
                # buy-to-let and its reverse: a vacant home changes between the two markets
                other = ch.PRIVATE if t == ch.OWNER else ch.OWNER
                spare = np.flatnonzero((occ == 0) & (self.tenure == other) & ~taken)
                k = min(short.size, spare.size)
                conv = rng.choice(spare, k, replace=False)
                self.tenure[conv] = t
                out[short[:k]] = conv
                taken[conv] = True
                self.counters["tenure_conversions"] = self.counters.get("tenure_conversions", 0) + int(k)
                short = short[k:]
            if short.size and not chain and t == ch.SOCIAL:
                tenure[short] = ch.PRIVATE  # handled by the private pass below
                continue
            if short.size:
                if chain:
                    self.counters["move_fallbacks"] += int(short.size)
                else:
                    self.counters["council_move_fallbacks"] = self.counters.get(
                        "council_move_fallbacks", 0
                    ) + int(short.size)
                others = np.flatnonzero((occ > 0) & ~self.is_ta)
                out[short] = rng.choice(others, short.size)
        want = np.flatnonzero(tenure == ch.WITH_OTHERS)
        if want.size:
            hosts = np.flatnonzero((occ > 0) & ~self.is_ta)
            out[want] = rng.choice(hosts, want.size)
        return out

    def _refresh_people_props(self, m: int) -> None:
        """Everyone's home follows their family; record residence spells that changed."""
        pe, f = self.people, self.fam
        fam = pe["family"]
        alive = pe["exit_month"] < 0
        new_prop = np.where(alive & (fam >= 0), f.cols["prop"][np.maximum(fam, 0)], -1).astype(np.int32)
        old = pe["prop"]
        changed = np.flatnonzero(new_prop != old)
        if changed.size:
            self.spells.add(
                person=changed, prop=new_prop[changed], month=np.full(changed.size, m + 1, np.int16)
            )
            pe.cols["prop"][changed] = new_prop[changed]

    # --- the month ---------------------------------------------------------------------

    def run(self) -> None:
        self.initialise()
        for m in range(self.months):
            self.month(m)
            if self.progress:
                self.progress(m)

    def month(self, m: int) -> None:
        rng, f, c = self.rng, self.fam, self.chain
        active = np.flatnonzero(f["status"] == ACTIVE)
        old = {k: f[k][active] for k in ch.VARS}
        new, ev, mv = c.step(old, rng)
        rates = c.cause_rates(new)
        lam = rates.sum(axis=1)
        approach = rng.random(active.size) < -np.expm1(-lam)
        cause = _draw_rows(rates[approach], rng)
        for k in ch.VARS:
            f.cols[k][active] = new[k]
        # separations: the partner leaves; draws are independent of the family's approach
        sep = active[ev == ch.EV_SEPARATION]
        self._separations(sep, {k: new[k][ev == ch.EV_SEPARATION] for k in ch.VARS}, m)
        # first approaches
        fam_app = active[approach]
        self._open_cases(
            fam_app, f["lead"][fam_app], cause, m, new_tenure=new["T"][approach], legal=new["L"][approach]
        )
        stay = ~approach
        # composition events
        self._add_partners(active[ev == ch.EV_PARTNERING], m)
        born = active[ev == ch.EV_BIRTH]
        self._add_children(born, np.zeros(born.size), m)
        # moves and exits for those who did not approach
        movers = active[stay & (mv == 1)]
        evicted = movers[old["L"][stay & (mv == 1)] == 3]
        self._end_tenancies(movers, m, evicted=evicted)
        dest = self.pick_homes(f["T"][movers])
        # young adults at home move with their parents to a new home of their own
        self._move_families(movers, dest)
        ex_rate = c.exit_rate[new["C"], new["T"]]
        exits = active[stay & (rng.random(active.size) < ex_rate)]
        dies = rng.random(exits.size) < c.death_share[f["C"][exits], f["T"][exits]]
        self._exit_families(exits, dies, m)
        # children who turn 18 become young adults at home
        self._spawn_young(m)
        self._advice_cases(m)
        self._progress_cases(m)
        self._in_migration(m)
        self._refresh_people_props(m)
        self._update_primaries()
        emit_month(self, m, active, ev)
        if m >= 11:
            self.snapshots[m] = snapshot(self, m)

    # --- events ------------------------------------------------------------------------

    def _separations(self, fids: np.ndarray, new: dict, m: int) -> None:
        if fids.size == 0:
            return
        rng, f, pe, p = self.rng, self.fam, self.people, self.params.chain
        leaver = f["partner"][fids]
        f.cols["partner"][fids] = -1
        u = rng.random(fids.size)
        flee_p = np.asarray(p.flee)[new["R"]]
        flee = u < flee_p
        gone = ~flee & (u < flee_p + p.leaver_exit)
        settle = ~flee & ~gone
        pe.cols["family"][leaver[gone]] = -1
        pe.cols["exit_month"][leaver[gone]] = m
        pe.cols["exit_kind"][leaver[gone]] = 2
        ten = rng.choice(4, fids.size, p=np.asarray(p.leaver_tenure)).astype(np.int8)
        state = {k: new[k].copy() for k in ("Z", "V", "P", "E", "U")}
        state.update(
            R=np.zeros(fids.size, np.int8),
            C=np.full(fids.size, ch.SINGLE, np.int8),
            A=np.zeros(fids.size, np.int8),
            L=np.zeros(fids.size, np.int8),
            T=ten,
        )
        idx = np.flatnonzero(flee | settle)
        dest = np.full(fids.size, -1, np.int64)
        dest[flee] = f["prop"][fids[flee]]  # still at the old address when they ask for help
        dest[settle] = self.pick_homes(ten[settle])
        sub = {k: v[idx] for k, v in state.items()}
        nf = self._create_families(dest[idx], sub["C"], sub["T"], m, state=sub, lead=leaver[idx])
        flee_f = nf[flee[idx]]
        reason = np.where(new["R"][flee] == ch.R_ABUSE, 5, 4)
        self._open_cases(
            flee_f,
            leaver[flee],
            reason,
            m,
            new_tenure=np.full(flee_f.size, ch.WITH_OTHERS),
            legal=np.zeros(flee_f.size),
        )

    def _open_cases(
        self,
        fids: np.ndarray,
        applicant: np.ndarray,
        cause: np.ndarray,
        m: int,
        new_tenure: np.ndarray,
        legal: np.ndarray,
    ) -> None:
        """A first approach with a prevention or relief duty."""
        if fids.size == 0:
            return
        rng, f = self.rng, self.fam
        n = fids.size
        homeless_now = (new_tenure == ch.WITH_OTHERS) | (legal >= 3) | (cause == 5)
        duty = np.where(homeless_now, "relief", "prevention")
        day = self.day_in_month(m, n)
        dur = rng.integers(1, 4, n)
        outcome = np.where(
            duty == "prevention",
            rng.choice(["stayed", "moved", "relief"], n, p=[0.55, 0.30, 0.15]),
            rng.choice(["moved", "main_duty_ta"], n, p=[0.55, 0.45]),
        )
        ids = self._next_ids("case", n)
        f.cols["status"][fids] = IN_CASE
        f.cols["release"][fids] = m + dur
        self.cases_open.update(zip(fids.tolist(), outcome.tolist(), strict=True))
        self.rec["homelessness_cases"].add(
            case=ids,
            person=applicant,
            family=fids,
            prop=f["prop"][fids],
            approach_day=day,
            duty=duty,
            reason=cause.astype(np.int8),
            close_day=day + dur * 30 + rng.integers(0, 20, n),
            outcome=outcome,
            labelled=np.ones(n, bool),
            n_children=self._n_children(fids),
        )

    def _advice_cases(self, m: int) -> None:
        """Advice-only approaches (no duty owed): at random, or, in the advice_from_threats
        experiment, mostly from a threat the family faces, naming it as the reason."""
        rng, f, p = self.rng, self.fam, self.params
        act = np.flatnonzero(f["status"] == ACTIVE)
        if p.advice_from_threats:
            adv, reason = self._advice_from_threats(act)
        else:
            adv = act[rng.random(act.size) < p.advice_only_rate]
            reason = np.full(adv.size, len(ch.CAUSES) - 1, np.int8)
        if adv.size == 0:
            return
        day = self.day_in_month(m, adv.size)
        self.rec["homelessness_cases"].add(
            case=self._next_ids("case", adv.size),
            person=f["lead"][adv],
            family=adv,
            prop=f["prop"][adv],
            approach_day=day,
            duty=np.full(adv.size, "none", dtype=object),
            reason=reason,
            close_day=day,
            outcome=np.full(adv.size, "advice_only", dtype=object),
            labelled=np.zeros(adv.size, bool),
            n_children=self._n_children(adv),
        )

    def _advice_from_threats(self, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng, f, p = self.rng, self.fam, self.params
        t, c, r, l_, u = (f[k][act] for k in ("T", "C", "R", "L", "U"))
        young = c == ch.YOUNG_AT_HOME
        rates = np.zeros((act.size, len(ch.CAUSES)))
        legal = np.asarray(p.advice_legal)[l_]
        rates[:, 0] = np.where(t == ch.PRIVATE, legal, 0.0)
        rates[:, 1] = np.where(t == ch.SOCIAL, legal, 0.0)
        rates[:, 2] = np.where(t == ch.OWNER, legal, 0.0)
        rates[:, 3] = np.where(young, np.asarray(p.advice_conflict)[r], 0.0)
        couple = np.where(young, 0.0, np.asarray(p.advice_relationship)[r])
        rates[:, 4] = np.where(r == ch.R_STRAINED, couple, 0.0)
        rates[:, 5] = np.where(r == ch.R_ABUSE, couple, 0.0)
        rates[:, 6] = np.where((t == ch.WITH_OTHERS) & ~young, p.advice_with_others, 0.0)
        rates[:, 7] = p.advice_only_rate + p.advice_stress * u
        total = rates.sum(axis=1)
        hit = rng.random(act.size) < total
        share = rates[hit] / total[hit, None]
        reason = (rng.random(share.shape[0])[:, None] > np.cumsum(share, axis=1)).sum(axis=1)
        return act[hit], np.minimum(reason, len(ch.CAUSES) - 1).astype(np.int8)

    def _n_children(self, fids: np.ndarray) -> np.ndarray:
        pe = self.people
        kids = (pe["role"] == 2) & (pe["exit_month"] < 0) & (pe["family"] >= 0)
        counts = np.bincount(pe["family"][kids], minlength=self.fam.n)
        return counts[fids]

    def _progress_cases(self, m: int) -> None:
        rng, f = self.rng, self.fam
        due = np.flatnonzero((f["status"] == IN_CASE) & (f["release"] == m))
        ta_due = np.flatnonzero((f["status"] == IN_TA) & (f["release"] == m))
        outcomes = np.asarray([self.cases_open.pop(int(i)) for i in due], dtype=object)
        escalated = (outcomes == "relief") & (rng.random(due.size) < 0.5)
        stayed = due[outcomes == "stayed"]
        moved = due[(outcomes == "moved") | escalated]
        to_ta = due[(outcomes == "main_duty_ta") | ((outcomes == "relief") & ~escalated)]
        f.cols["P"][due] = 1
        f.cols["status"][due] = ACTIVE
        f.cols["U"][due] = 0
        f.cols["L"][due] = 0
        f.cols["A"][stayed] = np.maximum(f["A"][stayed] - 2, 0)
        f.cols["R"][due] = np.where(f["C"][due] == ch.YOUNG_AT_HOME, f["R"][due], 0)
        self._end_tenancies(np.concatenate([moved, to_ta]), m)
        young = np.flatnonzero(f["C"][moved] == ch.YOUNG_AT_HOME)
        f.cols["C"][moved[young]] = ch.SINGLE
        new_t = rng.choice([ch.PRIVATE, ch.SOCIAL], moved.size, p=[0.6, 0.4]).astype(np.int8)
        f.cols["T"][moved] = new_t
        f.cols["A"][moved] = 0
        self._council_move(moved, new_t)
        # temporary accommodation
        occ = self.occupancy()
        free_ta = np.flatnonzero(self.is_ta & (occ == 0))
        k = min(free_ta.size, to_ta.size)
        placed = to_ta[:k]
        self._move_families(placed, rng.choice(free_ta, k, replace=False), with_young=False)
        f.cols["status"][placed] = IN_TA
        f.cols["release"][placed] = m + rng.integers(4, 15, k)
        f.cols["T"][placed] = ch.SOCIAL
        f.cols["A"][placed] = 0
        f.cols["C"][placed[f["C"][placed] == ch.YOUNG_AT_HOME]] = ch.SINGLE
        rest = to_ta[k:]  # no temporary accommodation free: a private let is found instead
        f.cols["T"][rest] = ch.PRIVATE
        f.cols["C"][rest[f["C"][rest] == ch.YOUNG_AT_HOME]] = ch.SINGLE
        self._council_move(rest, np.full(rest.size, ch.PRIVATE, np.int8))
        # leaving temporary accommodation for a social tenancy
        f.cols["status"][ta_due] = ACTIVE
        self._end_tenancies(ta_due, m)
        f.cols["T"][ta_due] = ch.SOCIAL
        f.cols["A"][ta_due] = 0
        self._council_move(ta_due, np.full(ta_due.size, ch.SOCIAL, np.int8))

    def _council_move(self, fids: np.ndarray, tenure: np.ndarray) -> None:
        """A move the housing team arranges after a case: the tenure is the home's."""
        dest = self.pick_homes(tenure, chain=False)
        self.fam.cols["T"][fids] = self.tenure[dest]
        self._move_families(fids, dest)

    def _move_families(self, fids: np.ndarray, dest: np.ndarray, with_young: bool = True) -> None:
        if fids.size == 0:
            return
        f = self.fam
        old_prop = f["prop"][fids].copy()
        f.cols["prop"][fids] = dest
        f.cols["L"][fids] = 0
        if with_young:
            # young adults at home follow parents who move to a home of their own
            ya = np.flatnonzero((f["C"] == ch.YOUNG_AT_HOME) & (f["status"] != GONE))
            own = f["T"][fids] != ch.WITH_OTHERS
            lookup = pd.Series(dest[own], index=old_prop[own])
            lookup = lookup[~lookup.index.duplicated()]
            hit = ya[np.isin(f["prop"][ya], lookup.index.to_numpy()) & ~np.isin(ya, fids)]
            if hit.size:
                f.cols["prop"][hit] = lookup.loc[f["prop"][hit]].to_numpy()

    def _exit_families(self, fids: np.ndarray, dies: np.ndarray, m: int) -> None:
        if fids.size == 0:
            return
        f, pe = self.fam, self.people
        self._end_tenancies(fids, m)
        f.cols["status"][fids] = GONE
        members = np.flatnonzero(np.isin(pe["family"], fids) & (pe["exit_month"] < 0))
        pe.cols["exit_month"][members] = m
        pe.cols["exit_kind"][members] = 2
        dead = f["lead"][fids[dies]]
        pe.cols["exit_kind"][dead] = 1
        if dead.size:
            dod = self.day_in_month(m, dead.size)
            self.rec["deaths"].add(
                notification=self._next_ids("death", dead.size),
                person=dead,
                prop=f["prop"][fids[dies]],
                death_day=dod,
                notified_day=dod + self.rng.integers(1, 30, dead.size),
            )

    def _spawn_young(self, m: int) -> None:
        pe, f = self.people, self.fam
        lo = (self.month_start[m] - EPOCH).astype(int)
        hi = (self.month_start[m + 1] - EPOCH).astype(int)
        b18 = pe["dob"] + np.round(18 * 365.25).astype(int)
        kids = np.flatnonzero((pe["role"] == 2) & (pe["exit_month"] < 0) & (b18 >= lo) & (b18 < hi))
        kids = kids[pe["family"][kids] >= 0]
        if kids.size == 0:
            return
        parent = pe["family"][kids]
        st = self.chain.sample_young(f["Z"][parent], pe["disabled"][kids].astype(np.int8), self.rng)
        self._create_families(f["prop"][parent], st["C"], st["T"], m, state=st, lead=kids)

    def _in_migration(self, m: int) -> None:
        rng, p = self.rng, self.params
        occ = self.occupancy()
        add = []
        for t in (ch.OWNER, ch.PRIVATE):  # social homes are let from the waiting list, not to newcomers
            pool = (self.tenure == t) & ~self.is_ta
            free = np.flatnonzero(pool & (occ == 0))
            reserve = int(pool.sum() * p.vacancy[t])
            if free.size > reserve:
                add.append(rng.choice(free, free.size - reserve, replace=False))
        if not add:
            return
        props = np.concatenate(add)
        t = self.tenure[props]
        ctype = self._draw_types(t)
        fids = self._create_families(props, ctype, t.astype(np.int8), m, burn_in=6)
        kids = fids[np.isin(ctype, ch.KID_TYPES)]
        if kids.size:
            self._add_initial_children(kids, m, counts=(0.5, 0.35, 0.15))
        pe = self.people
        members = np.flatnonzero(np.isin(pe["family"], fids))
        pe.cols["oob_addr"][members] = rng.integers(0, self.oob_addr.size, members.size)

    # --- accounts (council tax and council tenancies) ----------------------------------

    def _update_primaries(self) -> None:
        """The liable family of each occupied home: the one that held it first."""
        f = self.fam
        here = np.flatnonzero(f["status"] != GONE)
        props = f["prop"][here]
        current = self.prop_primary
        still = np.zeros(self.n_props, bool)
        ok = current >= 0
        still[ok] = (f["status"][current[ok]] != GONE) & (f["prop"][current[ok]] == np.flatnonzero(ok))
        order = np.lexsort((f["C"][here] == ch.YOUNG_AT_HOME, f["T"][here] == ch.WITH_OTHERS, props))
        first = pd.Series(here[order]).groupby(props[order]).first()
        new_primary = np.full(self.n_props, -1, np.int32)
        new_primary[first.index.to_numpy()] = first.to_numpy()
        new_primary[still] = current[still]
        self.prop_primary_changed = np.flatnonzero(new_primary != current)
        self.prop_primary = new_primary

    def _end_tenancies(self, fids: np.ndarray, m: int, evicted: np.ndarray | None = None) -> None:
        """Families leaving a home: their council tenancy ends (with the eviction date)."""
        if fids.size:
            self.leaving.append(
                (
                    m,
                    self.fam["prop"][fids].copy(),
                    np.isin(fids, evicted) if evicted is not None else np.zeros(fids.size, bool),
                )
            )


def _draw_rows(rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rates.shape[0] == 0:
        return np.zeros(0, np.int8)
    return ch._draw(rates / rates.sum(axis=1, keepdims=True), rng, rates.shape[0])
