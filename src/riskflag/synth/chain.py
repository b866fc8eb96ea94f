"""The hidden life of a family, as a small factored Markov chain.

Each family (a benefit unit: one adult or a couple, with any dependent children) carries a
state of ten discrete variables. Every month the simulator samples the next state one
variable at a time from the conditional probability tables below, then draws whether the
family approaches the council as homeless from a hazard that depends only on that state.

The same tables drive the oracle. Because the chain is time-homogeneous and the approach
hazard depends on the state alone, the probability that nobody in a household approaches
within a horizon is an exact backward recursion over the state space (a few tens of
thousands of states), not a Monte-Carlo estimate. One subtlety makes it a branching
process: a separating couple spawns a new family (the partner who leaves), whose own future
counts towards the household's label; the recursion multiplies the two branches.

Design rules that keep the oracle exact (each is tested):
- families with children (lone parent, couple with children) never leave the borough or
  die, so a child turning 18 always finds the family present and becomes a young adult
  living at home, an independent family whose first state is drawn from a fixed
  distribution;
- moves choose a property of the tenure the chain drew; which property does not matter;
- nothing outside the chain (emissions, cases after an approach) feeds back into it
  before the family's first approach.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

# --- variables -------------------------------------------------------------------------
# Static for the family's life: Z disadvantage, V vulnerability (mental health, learning
# disability, substance misuse), P prior homelessness (set after a first approach).
# Dynamic: E employment, U hidden stress (informal debt, a landlord who wants to sell:
# no council system records it), R relationship (for young adults: conflict with parents),
# C composition, A housing-cost arrears, L possession proceedings, T tenure.
VARS: tuple[str, ...] = ("Z", "V", "P", "E", "U", "R", "C", "A", "L", "T")
CARDS: dict[str, int] = {
    "Z": 2,
    "V": 2,
    "P": 2,
    "E": 3,
    "U": 2,
    "R": 3,
    "C": 6,
    "A": 4,
    "L": 4,
    "T": 4,
}
SHAPE = tuple(CARDS[v] for v in VARS)
N_STATES = int(np.prod(SHAPE))

# E
STABLE, PRECARIOUS, UNEMPLOYED = 0, 1, 2
# R
R_OK, R_STRAINED, R_ABUSE = 0, 1, 2
# C
SINGLE, COUPLE, LONE_PARENT, COUPLE_KIDS, OLDER, YOUNG_AT_HOME = range(6)
C_NAMES = ("single", "couple", "lone_parent", "couple_children", "older", "young_adult_at_home")
KID_TYPES = (LONE_PARENT, COUPLE_KIDS)
# A: none, under 4 weeks, 4 to 8 weeks, 8 weeks or more of housing costs owed
# L: none, notice (section 21 / notice of seeking possession / mortgage demand),
#    possession order, enforcement (bailiff or eviction warrant)
# T
OWNER, PRIVATE, SOCIAL, WITH_OTHERS = 0, 1, 2, 3
T_NAMES = ("owner_occupied", "private_rented", "social_rented", "staying_with_others")
# Composition events
EV_NONE, EV_SEPARATION, EV_PARTNERING, EV_BIRTH, EV_LEAVE_HOME = range(5)
N_EV = 5

# Approach causes: each adds to the monthly approach hazard; the reason on the case is drawn
# in proportion to them.
CAUSES = (
    "end_of_private_tenancy",
    "social_rent_arrears",
    "mortgage_arrears",
    "family_no_longer_willing",
    "relationship_breakdown",
    "domestic_abuse",
    "staying_with_friends_ended",
    "other",
)


@dataclass(frozen=True)
class ChainParams:
    """Monthly rates of the hidden life. Defaults are the world's stated defaults."""

    # employment: [Z][from] -> probabilities of (stable, precarious, unemployed)
    employment: tuple = (
        ((0.990, 0.007, 0.003), (0.040, 0.945, 0.015), (0.050, 0.050, 0.900)),
        ((0.975, 0.016, 0.009), (0.025, 0.945, 0.030), (0.030, 0.040, 0.930)),
    )
    stress_on: tuple = (0.004, 0.010)  # by Z
    stress_off: float = 0.08
    # relationship (couples): strained onset, escalation to abuse, recovery
    strain_onset: float = 0.005
    strain_onset_unemployed: float = 0.010
    strain_onset_stress: float = 0.012
    strain_recover: float = 0.08
    abuse_onset: float = 0.03
    abuse_ease: float = 0.05
    abuse_end: float = 0.02
    # young adults at home: conflict with parents
    conflict_onset: float = 0.010
    conflict_onset_unemployed: float = 0.012
    conflict_recover: float = 0.10
    conflict_escalate: float = 0.05
    conflict_ease: float = 0.10
    separation: tuple = (0.002, 0.030, 0.080)  # by R
    partnering: float = 0.004
    birth: float = 0.005
    leave_home: tuple = (0.015, 0.040, 0.080)  # by R
    move: tuple = (0.004, 0.015, 0.003, 0.20)  # voluntary, by T
    # arrears: monthly chance to rise one level, by E; chance to fall one level, by E
    arrears_up: tuple = (0.010, 0.045, 0.090)
    arrears_down: tuple = (0.25, 0.12, 0.06)
    arrears_up_stress: float = 0.05
    # approach hazards (monthly, additive on the log-survival scale)
    base: tuple = (0.0001, 0.0005, 0.0003, 0.028)  # by T
    base_young_at_home: float = 0.0030
    conflict: tuple = (0.0, 0.025, 0.08)  # young adults at home, by R
    legal: tuple = (  # by T then L
        (0.0, 0.006, 0.03, 0.30),
        (0.0, 0.06, 0.25, 0.55),
        (0.0, 0.020, 0.10, 0.45),
        (0.0, 0.0, 0.0, 0.0),
    )
    arrears: tuple = (0.0, 0.0004, 0.0025, 0.008)
    relationship: tuple = (0.0, 0.006, 0.030)
    stress: float = 0.008
    vulnerable: float = 0.002
    prior: float = 0.004
    disadvantage: float = 0.0004
    lone_parent: float = 0.001
    # separation: the partner who leaves approaches at once (by R), leaves the borough, or
    # settles in the borough with a tenure drawn from leaver_tenure
    flee: tuple = (0.02, 0.06, 0.35)
    leaver_exit: float = 0.30
    leaver_tenure: tuple = (0.10, 0.60, 0.02, 0.28)
    # exits: out-migration by T; deaths by C
    out_migration: tuple = (0.0025, 0.022, 0.002, 0.012)
    out_migration_young: float = 0.010
    death_older: float = 0.0035
    death_other: float = 0.0002
    # first state of a young adult at home (child turned 18 or moved back)
    young_employment: tuple = (0.35, 0.30, 0.35)
    young_stress: float = 0.12
    young_conflict: tuple = (0.80, 0.17, 0.03)


# --- state encoding --------------------------------------------------------------------


def encode(states: dict[str, np.ndarray]) -> np.ndarray:
    """Flat state index of each family (C order over VARS)."""
    return np.ravel_multi_index(tuple(np.asarray(states[v]) for v in VARS), SHAPE).astype(np.int64)


def decode(index: np.ndarray) -> dict[str, np.ndarray]:
    parts = np.unravel_index(np.asarray(index, dtype=np.int64), SHAPE)
    return {v: p.astype(np.int8) for v, p in zip(VARS, parts, strict=True)}


# --- conditional tables ----------------------------------------------------------------


def _normalise(table: np.ndarray) -> np.ndarray:
    table = np.clip(table, 0.0, None)
    s = table.sum(axis=-1, keepdims=True)
    assert np.all(s > 0), "a conditional table row has no mass"
    return table / s


class Chain:
    """Conditional tables of one family-month, and the hazard, from ChainParams.

    The sampling order (each table's parents) is fixed: E, U, R, Ev, C, M, T, A, L. "old"
    parents are last month's values; the others are this month's.
    """

    def __init__(self, params: ChainParams | None = None) -> None:
        self.p = params or ChainParams()
        p = self.p
        # E'[Z, C, E]
        e = np.zeros((2, 6, 3, 3))
        for z in range(2):
            e[z, :, :, :] = np.asarray(p.employment[z])
        e[:, OLDER, :, :] = 0.0
        e[:, OLDER, :, STABLE] = 1.0  # pensions: no employment shocks
        self.cpt_E = _normalise(e)
        # U'[Z, U]
        u = np.zeros((2, 2, 2))
        for z in range(2):
            u[z, 0] = (1 - p.stress_on[z], p.stress_on[z])
            u[z, 1] = (p.stress_off, 1 - p.stress_off)
        self.cpt_U = u
        # R'[C, E', U', R]
        r = np.zeros((6, 3, 2, 3, 3))
        for c in range(6):
            for e_ in range(3):
                for u_ in range(2):
                    if c in (COUPLE, COUPLE_KIDS):
                        on = (
                            p.strain_onset
                            + p.strain_onset_unemployed * (e_ == UNEMPLOYED)
                            + p.strain_onset_stress * u_
                        )
                        r[c, e_, u_, R_OK] = (1 - on, on, 0)
                        r[c, e_, u_, R_STRAINED] = (
                            p.strain_recover,
                            1 - p.strain_recover - p.abuse_onset,
                            p.abuse_onset,
                        )
                        r[c, e_, u_, R_ABUSE] = (p.abuse_end, p.abuse_ease, 1 - p.abuse_end - p.abuse_ease)
                    elif c == YOUNG_AT_HOME:
                        on = p.conflict_onset + p.conflict_onset_unemployed * (e_ == UNEMPLOYED)
                        r[c, e_, u_, R_OK] = (1 - on, on, 0)
                        r[c, e_, u_, R_STRAINED] = (
                            p.conflict_recover,
                            1 - p.conflict_recover - p.conflict_escalate,
                            p.conflict_escalate,
                        )
                        r[c, e_, u_, R_ABUSE] = (0, p.conflict_ease, 1 - p.conflict_ease)
                    else:
                        r[c, e_, u_, :, R_OK] = 1.0
        self.cpt_R = _normalise(r)
        # Ev[C, R']
        ev = np.zeros((6, 3, N_EV))
        for c in range(6):
            for r_ in range(3):
                row = np.zeros(N_EV)
                if c in (COUPLE, COUPLE_KIDS):
                    row[EV_SEPARATION] = p.separation[r_]
                    row[EV_BIRTH] = p.birth
                if c in (SINGLE, LONE_PARENT):
                    row[EV_PARTNERING] = p.partnering
                if c == YOUNG_AT_HOME:
                    row[EV_LEAVE_HOME] = p.leave_home[r_]
                row[EV_NONE] = 1 - row.sum()
                ev[c, r_] = row
        self.cpt_Ev = ev
        # C' = f[C, Ev]
        f = np.tile(np.arange(6)[:, None], (1, N_EV))
        f[COUPLE, EV_SEPARATION] = SINGLE
        f[COUPLE_KIDS, EV_SEPARATION] = LONE_PARENT
        f[COUPLE, EV_BIRTH] = COUPLE_KIDS
        f[SINGLE, EV_PARTNERING] = COUPLE
        f[LONE_PARENT, EV_PARTNERING] = COUPLE_KIDS
        f[YOUNG_AT_HOME, EV_LEAVE_HOME] = SINGLE
        self.f_C = f
        # M[C, T, L, Ev]: eviction enforced last month or leaving home forces a move
        m = np.zeros((6, 4, 4, N_EV, 2))
        for c in range(6):
            for t in range(4):
                for l_ in range(4):
                    for k in range(N_EV):
                        if l_ == 3 or k == EV_LEAVE_HOME:
                            pm = 1.0
                        elif c == YOUNG_AT_HOME:
                            pm = 0.0  # moves with the parents, outside the chain
                        else:
                            pm = p.move[t]
                        m[c, t, l_, k] = (1 - pm, pm)
        self.cpt_M = m
        # T'[T, L, Ev, M]
        tt = np.zeros((4, 4, N_EV, 2, 4))
        voluntary = np.array(
            [
                [0.80, 0.20, 0.00, 0.00],
                [0.15, 0.80, 0.02, 0.03],
                [0.10, 0.30, 0.58, 0.02],
                [0.00, 0.86, 0.04, 0.10],
            ]
        )
        evicted = np.array([0.0, 0.58, 0.02, 0.40])
        leaving_home = np.array([0.06, 0.80, 0.02, 0.12])
        for t in range(4):
            for l_ in range(4):
                for k in range(N_EV):
                    tt[t, l_, k, 0, t] = 1.0
                    if k == EV_LEAVE_HOME:
                        tt[t, l_, k, 1] = leaving_home
                    elif l_ == 3:
                        tt[t, l_, k, 1] = evicted
                    else:
                        tt[t, l_, k, 1] = voluntary[t]
        self.cpt_T = _normalise(tt)
        # A'[T', C', E', U', M, A]
        a = np.zeros((4, 6, 3, 2, 2, 4, 4))
        for t in range(4):
            for c in range(6):
                for e_ in range(3):
                    for u_ in range(2):
                        for mv in range(2):
                            for a0 in range(4):
                                row = np.zeros(4)
                                if t == WITH_OTHERS or c == YOUNG_AT_HOME or mv == 1:
                                    row[0] = 1.0
                                else:
                                    up = p.arrears_up[e_] + p.arrears_up_stress * u_
                                    if t == OWNER:
                                        up *= 0.5
                                    dn = p.arrears_down[e_] if a0 > 0 else 0.0
                                    if a0 == 3:
                                        up = 0.0
                                    row[min(a0 + 1, 3)] += up
                                    row[max(a0 - 1, 0)] += dn
                                    row[a0] += 1 - up - dn
                                a[t, c, e_, u_, mv, a0] = row
        self.cpt_A = _normalise(a)
        # L'[T', C', A', U', M, L]
        lt = np.zeros((4, 6, 4, 2, 2, 4, 4))
        for t in range(4):
            for c in range(6):
                for a_ in range(4):
                    for u_ in range(2):
                        for mv in range(2):
                            for l0 in range(4):
                                lt[t, c, a_, u_, mv, l0] = self._legal_row(t, c, a_, u_, mv, l0)
        self.cpt_L = _normalise(lt)
        # exit[C', T'] (end of month, after the approach hazard)
        x = np.zeros((6, 4))
        for c in range(6):
            for t in range(4):
                if c in KID_TYPES:
                    x[c, t] = 0.0
                elif c == YOUNG_AT_HOME:
                    x[c, t] = p.out_migration_young
                else:
                    death = p.death_older if c == OLDER else p.death_other
                    x[c, t] = 1 - (1 - p.out_migration[t]) * (1 - death)
        self.exit_rate = x
        self.death_share = np.where(
            x > 0,
            np.where(np.arange(6)[:, None] == OLDER, p.death_older, p.death_other) / np.maximum(x, 1e-12),
            0.0,
        )
        self.death_share[YOUNG_AT_HOME] = 0.0

    def _legal_row(self, t: int, c: int, a: int, u: int, mv: int, l0: int) -> np.ndarray:
        row = np.zeros(4)
        if t == WITH_OTHERS or c == YOUNG_AT_HOME or mv == 1:
            row[0] = 1.0
            return row
        if t == PRIVATE:
            start = 0.002 + 0.008 * (a == 2) + 0.035 * (a == 3) + 0.040 * u
            withdraw, order, enforce, settle = 0.05 + 0.10 * (a <= 1) * (1 - u), 0.20, 0.35, 0.03
        elif t == SOCIAL:
            start = 0.0 + 0.006 * (a == 2) + 0.030 * (a == 3)
            withdraw = 0.10 + 0.20 * (a <= 1)
            order = 0.07 * (a == 3) + 0.02 * (a == 2)
            enforce = 0.10 * (a == 3)
            settle = 0.05 * (a <= 1)
        else:  # owner: mortgage lender's proceedings
            start = 0.015 * (a == 3) + 0.003 * (a == 2)
            withdraw, order, enforce, settle = 0.08 + 0.15 * (a <= 1), 0.10, 0.15, 0.05
        if l0 == 0:
            row[:2] = (1 - start, start)
        elif l0 == 1:
            row[:3] = (withdraw, 1 - withdraw - order, order)
        elif l0 == 2:
            row[[0, 2, 3]] = (settle, 1 - settle - enforce, enforce)
        else:
            row[3] = 1.0  # enforcement: the family moves next month (forced move)
        return row

    # --- hazard ------------------------------------------------------------------------

    def cause_rates(self, s: dict[str, np.ndarray]) -> np.ndarray:
        """Monthly approach rate of each cause for states s (families × causes)."""
        p = self.p
        t, c, l_, a, r = (s[k].astype(np.int64) for k in ("T", "C", "L", "A", "R"))
        n = t.shape[0]
        out = np.zeros((n, len(CAUSES)))
        young = c == YOUNG_AT_HOME
        legal = np.asarray(p.legal)[t, l_]
        arrears = np.asarray(p.arrears)[a] * np.where(t == OWNER, 0.5, 1.0)
        out[:, 0] = np.where((t == PRIVATE) & ~young, legal + arrears, 0.0)
        out[:, 1] = np.where((t == SOCIAL) & ~young, legal + arrears, 0.0)
        out[:, 2] = np.where((t == OWNER) & ~young, legal + arrears, 0.0)
        out[:, 3] = np.where(young, p.base_young_at_home + np.asarray(p.conflict)[r], 0.0)
        couple_rel = np.where(young, 0.0, np.asarray(p.relationship)[r])
        out[:, 4] = np.where(r == R_STRAINED, couple_rel, 0.0)
        out[:, 5] = np.where(r == R_ABUSE, couple_rel, 0.0)
        out[:, 6] = np.where((t == WITH_OTHERS) & ~young, np.asarray(p.base)[t], 0.0)
        other = (
            np.where(young | (t == WITH_OTHERS), 0.0, np.asarray(p.base)[t])
            + p.stress * s["U"]
            + p.vulnerable * s["V"]
            + p.prior * s["P"]
            + p.disadvantage * s["Z"]
            + p.lone_parent * (c == LONE_PARENT)
        )
        out[:, 7] = other
        return out

    def hazard(self, s: dict[str, np.ndarray]) -> np.ndarray:
        """Probability of a first approach with a prevention or relief duty this month."""
        return -np.expm1(-self.cause_rates(s).sum(axis=1))

    @cached_property
    def hazard_all(self) -> np.ndarray:
        return self.hazard(decode(np.arange(N_STATES)))

    @cached_property
    def exit_all(self) -> np.ndarray:
        s = decode(np.arange(N_STATES))
        return self.exit_rate[s["C"], s["T"]]

    # --- sampling ----------------------------------------------------------------------

    def step(self, s: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
        """One month for families in states s. Returns (new state, composition event, moved)."""
        n = s["E"].shape[0]
        new = {k: s[k].copy() for k in ("Z", "V", "P")}
        new["E"] = _draw(self.cpt_E[s["Z"], s["C"], s["E"]], rng, n)
        new["U"] = _draw(self.cpt_U[s["Z"], s["U"]], rng, n)
        new["R"] = _draw(self.cpt_R[s["C"], new["E"], new["U"], s["R"]], rng, n)
        ev = _draw(self.cpt_Ev[s["C"], new["R"]], rng, n)
        new["C"] = self.f_C[s["C"], ev].astype(np.int8)
        mv = _draw(self.cpt_M[s["C"], s["T"], s["L"], ev], rng, n)
        new["T"] = _draw(self.cpt_T[s["T"], s["L"], ev, mv], rng, n)
        new["A"] = _draw(self.cpt_A[new["T"], new["C"], new["E"], new["U"], mv, s["A"]], rng, n)
        new["L"] = _draw(self.cpt_L[new["T"], new["C"], new["A"], new["U"], mv, s["L"]], rng, n)
        return new, ev, mv

    # --- the oracle's operator ---------------------------------------------------------

    @cached_property
    def transitions(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Sparse one-month transition matrices (without, with a separation), over all
        states, enumerated from exactly the tables that step() samples from."""
        old = decode(np.arange(N_STATES))
        src = np.arange(N_STATES, dtype=np.int32)
        prob = np.ones(N_STATES)
        new: dict[str, np.ndarray] = {}

        def expand(table: np.ndarray, name: str) -> None:
            nonlocal src, prob, new
            k = table.shape[-1]
            pr = (prob[:, None] * table.reshape(-1, k)).ravel()
            keep = np.flatnonzero(pr > 0)
            row = keep // k
            src, prob = src[row], pr[keep]
            new = {kk: vv[row] for kk, vv in new.items()}
            new[name] = (keep % k).astype(np.int8)

        def o(k: str) -> np.ndarray:
            return old[k][src]

        expand(self.cpt_E[o("Z"), o("C"), o("E")], "E")
        expand(self.cpt_U[o("Z"), o("U")], "U")
        expand(self.cpt_R[o("C"), new["E"], new["U"], o("R")], "R")
        expand(self.cpt_Ev[o("C"), new["R"]], "Ev")
        new["C"] = self.f_C[o("C"), new["Ev"]]
        expand(self.cpt_M[o("C"), o("T"), o("L"), new["Ev"]], "M")
        expand(self.cpt_T[o("T"), o("L"), new["Ev"], new["M"]], "T")
        expand(self.cpt_A[new["T"], new["C"], new["E"], new["U"], new["M"], o("A")], "A")
        expand(self.cpt_L[new["T"], new["C"], new["A"], new["U"], new["M"], o("L")], "L")
        for k in ("Z", "V", "P"):
            new[k] = o(k)
        dst = encode({k: new[k] for k in VARS})
        sep = new["Ev"] == EV_SEPARATION
        mats = []
        for mask in (~sep, sep):
            mats.append(sp.csr_matrix((prob[mask], (src[mask], dst[mask])), shape=(N_STATES, N_STATES)))
        return mats[0], mats[1]

    @cached_property
    def leaver_index(self) -> np.ndarray:
        """For every destination state of a separation, the state of the partner who
        leaves, for each tenure they may settle in (states × 4)."""
        s = decode(np.arange(N_STATES))
        out = np.empty((N_STATES, 4), dtype=np.int64)
        for t in range(4):
            out[:, t] = encode(
                {
                    "Z": s["Z"],
                    "V": s["V"],
                    "P": s["P"],
                    "E": s["E"],
                    "U": s["U"],
                    "R": np.zeros(N_STATES, np.int8),
                    "C": np.full(N_STATES, SINGLE),
                    "A": np.zeros(N_STATES, np.int8),
                    "L": np.zeros(N_STATES, np.int8),
                    "T": np.full(N_STATES, t),
                }
            )
        return out

    def young_states(self, z: int, v: int) -> tuple[np.ndarray, np.ndarray]:
        """First states (and their probabilities) of a young adult at home."""
        idx, pr = [], []
        for e_ in range(3):
            for u_ in range(2):
                for r_ in range(3):
                    w = (
                        self.p.young_employment[e_]
                        * (self.p.young_stress if u_ else 1 - self.p.young_stress)
                        * self.p.young_conflict[r_]
                    )
                    st = {
                        "Z": z,
                        "V": v,
                        "P": 0,
                        "E": e_,
                        "U": u_,
                        "R": r_,
                        "C": YOUNG_AT_HOME,
                        "A": 0,
                        "L": 0,
                        "T": WITH_OTHERS,
                    }
                    idx.append(int(encode({k: np.asarray([st[k]]) for k in VARS})[0]))
                    pr.append(w)
        return np.asarray(idx), np.asarray(pr)

    def sample_young(self, z: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> dict:
        n: int = z.shape[0]
        p = self.p
        return {
            "Z": z.astype(np.int8),
            "V": v.astype(np.int8),
            "P": np.zeros(n, np.int8),
            "E": _draw(np.tile(p.young_employment, (n, 1)), rng, n),
            "U": (rng.random(n) < p.young_stress).astype(np.int8),
            "R": _draw(np.tile(p.young_conflict, (n, 1)), rng, n),
            "C": np.full(n, YOUNG_AT_HOME, np.int8),
            "A": np.zeros(n, np.int8),
            "L": np.zeros(n, np.int8),
            "T": np.full(n, WITH_OTHERS, np.int8),
        }

    def backward(self, weights: list[float], n_max: int) -> tuple[np.ndarray, np.ndarray]:
        """Survival values for every state, months remaining and final-month weight.

        S[n, j, s]: probability that neither the family in state s nor anyone who leaves it
        makes a first approach within the next n months, the last of which counts only its
        first weights[j] share of days (approach days are uniform within a month).
        X[n, j, s]: probability of no approach and everybody gone (left the borough or died)
        by the window's end; exits happen on a month's last day, so a partial last month
        counts none. n = 0 is the empty window.
        """
        p_nosep, p_sep = self.transitions
        h, x = self.hazard_all, self.exit_all
        ws = np.asarray(weights, dtype=float)
        k = ws.shape[0]
        S = np.ones((n_max + 1, k, N_STATES))
        X = np.zeros((n_max + 1, k, N_STATES))
        flee = np.asarray(self.p.flee)[decode(np.arange(N_STATES))["R"]]
        q = self.p.leaver_exit
        tenure = np.asarray(self.p.leaver_tenure)
        li = self.leaver_index
        counts = ws >= 1.0
        for n in range(1, n_max + 1):
            # the first month of an n-month window; its continuation is the (n-1) window
            omega = ws if n == 1 else np.ones(k)
            xc = x[:, None] * (counts if n == 1 else np.ones(k, bool))[None, :]
            s_next, x_next = S[n - 1].T, X[n - 1].T  # states × weights
            a = 1.0 - h[:, None] * omega[None, :]
            g_s = a * (xc + (1 - xc) * s_next)
            g_x = a * (xc + (1 - xc) * x_next)
            settled_s = np.einsum("stk,t->sk", s_next[li], tenure)
            settled_x = np.einsum("stk,t->sk", x_next[li], tenure)
            l_s = flee[:, None] * (1 - omega[None, :]) + q + (1 - flee - q)[:, None] * settled_s
            exit_counts = (counts if n == 1 else np.ones(k, bool)).astype(float)
            l_x = q * exit_counts[None, :] + (1 - flee - q)[:, None] * settled_x
            S[n] = (p_nosep @ g_s + p_sep @ (g_s * l_s)).T
            X[n] = (p_nosep @ g_x + p_sep @ (g_x * l_x)).T
        return S, X


def _draw(table: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """One categorical draw per row of table (rows × categories)."""
    cum = np.cumsum(table, axis=-1)
    u = rng.random(n)[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=-1), table.shape[-1] - 1).astype(np.int8)
