"""What each council system records in a month, from the families' true state.

These are the signals a model may learn from; the hidden state itself (stress, a private
landlord's notice, a mortgage lender's proceedings) is never recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from riskflag.synth import chain as ch

if TYPE_CHECKING:
    from riskflag.synth.simulate import World

GONE, IN_TA = 3, 2
RENT_WEEKS = ((0.0, 0.5), (0.5, 4.0), (4.0, 8.0), (8.0, 20.0))
TERM_END = {11: "AUT", 2: "SPR", 6: "SUM"}  # calendar month index of term ends


def emit_month(w: World, m: int, active: np.ndarray, ev: np.ndarray) -> None:
    _accounts(w, m)
    _council_tax(w, m)
    _rent(w, m)
    _benefits(w, m, active, ev)
    _childrens(w, m)
    _adult_care(w, m)
    _education(w, m)
    _asb(w, m)
    _objections(w, m)


def _accounts(w: World, m: int) -> None:
    """Open and close council tax accounts and council tenancies as liable families change."""
    if not w.accounts_opened:
        w.accounts_opened = True
        changed = np.flatnonzero(w.prop_primary >= 0)
    else:
        changed = w.prop_primary_changed
    day = w.day_in_month(m, changed.size)
    end_of_prev = int((w.month_start[m] - ch_epoch()).astype(int)) - 1
    evicted_props = set()
    for mm, props, ev in w.leaving:
        if mm == m:
            evicted_props.update(props[ev].tolist())
    w.leaving = [x for x in w.leaving if x[0] > m]
    closed_acc, closed_ten = [], []
    for i, p in enumerate(changed):
        a = w.prop_account[p]
        if a >= 0:
            w.acc["end"][a] = int(day[i])
            closed_acc.append(a)
            w.prop_account[p] = -1
        t = w.prop_tenancy[p]
        if t >= 0:
            w.ten["end"][t] = int(day[i])
            w.ten["evicted"][t] = bool(p in evicted_props)
            closed_ten.append(t)
            w.prop_tenancy[p] = -1
        fam = w.prop_primary[p]
        if fam < 0:
            continue
        start = int(day[i]) if m > 0 else end_of_prev - int(w.rng.integers(30, 3650))
        if not w.is_ta[p]:
            w.prop_account[p] = len(w.acc["prop"])
            for k, v in (
                ("prop", p),
                ("family", fam),
                ("start", start),
                ("end", -1),
                ("arrears", 0.0),
                ("misses", 0),
            ):
                w.acc[k].append(v)
        if w.tenure[p] == ch.SOCIAL:
            w.prop_tenancy[p] = len(w.ten["prop"])
            for k, v in (("prop", p), ("family", fam), ("start", start), ("end", -1), ("evicted", False)):
                w.ten[k].append(v)
    w.closed_acc = np.asarray(closed_acc, np.int64)
    w.closed_ten = np.asarray(closed_ten, np.int64)


def ch_epoch() -> np.datetime64:
    return np.datetime64("1970-01-01", "D")


def _council_tax(w: World, m: int) -> None:
    f, pe = w.fam, w.people
    live = np.flatnonzero(w.prop_account >= 0)
    accs = np.concatenate([w.prop_account[live], w.closed_acc]).astype(np.int64)
    if accs.size == 0:
        return
    arrears = np.asarray(w.acc["arrears"], dtype=float)
    misses = np.asarray(w.acc["misses"], dtype=int)
    fam = np.asarray(w.acc["family"])[accs]
    props = np.asarray(w.acc["prop"])[accs]
    e, a, u, z, c = f["E"][fam], f["A"][fam], f["U"][fam], f["Z"][fam], f["C"][fam]
    ctr_eligible = (e >= 1) & (c != ch.OLDER) | ((c == ch.OLDER) & (z == 1))
    bill = w.ct_bill[props]
    ctr_weekly = np.where(ctr_eligible, (bill * 12 / 52 * np.where(e == 2, 0.8, 0.5)).round(2), 0.0)
    due = bill - ctr_weekly * 52 / 12
    p_miss = 0.015 + 0.20 * (e == 2) + 0.07 * (e == 1) + 0.18 * (a >= 2) + 0.10 * u
    live_part = np.arange(accs.size) < live.size
    miss = (w.rng.random(accs.size) < p_miss) & live_part
    pay_back = ~miss & (arrears[accs] > 0) & (w.rng.random(accs.size) < 0.35)
    arrears[accs] = np.where(miss, arrears[accs] + due, arrears[accs])
    arrears[accs] = np.where(
        pay_back, np.maximum(arrears[accs] - due * w.rng.uniform(1, 4, accs.size), 0), arrears[accs]
    )
    misses[accs] = np.where(miss, misses[accs] + 1, np.where(arrears[accs] <= 0, 0, misses[accs]))
    w.acc["arrears"] = arrears.round(2).tolist()
    w.acc["misses"] = misses.tolist()
    stage = np.select(
        [misses[accs] >= 6, misses[accs] >= 4, misses[accs] >= 3, misses[accs] >= 2, misses[accs] >= 1],
        [5, 4, 3, 2, 1],
        0,
    )
    # adults in the home: single person discount
    adult = (pe["prop"] >= 0) & (pe["dob"] <= w.month_end_day(m) - 18 * 365.25)
    adults = np.bincount(pe["prop"][adult], minlength=w.n_props)[props]
    w.rec["council_tax"].add(
        account=accs,
        prop=props,
        person1=f["lead"][fam],
        person2=f["partner"][fam],
        month=np.full(accs.size, m, np.int16),
        arrears=arrears[accs].round(2).astype(np.float32),
        stage=stage.astype(np.int8),
        spd=adults == 1,
        ctr_weekly=ctr_weekly.astype(np.float32),
        start_day=np.asarray(w.acc["start"])[accs],
        end_day=np.asarray(w.acc["end"])[accs],
    )


def _rent(w: World, m: int) -> None:
    f = w.fam
    live = np.flatnonzero(w.prop_tenancy >= 0)
    tens = np.concatenate([w.prop_tenancy[live], w.closed_ten]).astype(np.int64)
    if tens.size == 0:
        return
    fam = np.asarray(w.ten["family"])[tens]
    props = np.asarray(w.ten["prop"])[tens]
    a = f["A"][fam].astype(int)
    weeks = f["rent_weeks"][fam].astype(float)
    lo = np.asarray([r[0] for r in RENT_WEEKS])[a]
    hi = np.asarray([r[1] for r in RENT_WEEKS])[a]
    outside = (weeks < lo) | (weeks >= hi)
    weeks = np.where(
        outside, w.rng.uniform(lo, hi), np.clip(weeks + w.rng.normal(0, 0.3, tens.size), lo, hi - 1e-3)
    )
    weeks = np.where((a == 0) & (w.rng.random(tens.size) < 0.7), 0.0, weeks)
    live_part = np.arange(tens.size) < live.size
    f.cols["rent_weeks"][fam[live_part]] = weeks[live_part]
    day = w.day_in_month(m, tens.size)
    l_ = f["L"][fam]
    nsp = f["nsp_day"][fam]
    nsp = np.where(l_ >= 1, np.where(nsp >= 0, nsp, day), -1)
    order = f["order_day"][fam]
    order = np.where(l_ >= 2, np.where(order >= 0, order, day), -1)
    f.cols["nsp_day"][fam[live_part]] = nsp[live_part]
    f.cols["order_day"][fam[live_part]] = order[live_part]
    start = np.asarray(w.ten["start"])[tens]
    end = np.asarray(w.ten["end"])[tens]
    evicted = np.asarray(w.ten["evicted"])[tens]
    month_end = w.month_end_day(m)
    ttype = np.where(w.is_ta[props], "TA", np.where(month_end - start < 365, "INT", "SEC"))
    rent = w.weekly_rent[props]
    w.rec["rent_accounts"].add(
        tenancy=tens,
        prop=props,
        person1=f["lead"][fam],
        person2=f["partner"][fam],
        month=np.full(tens.size, m, np.int16),
        ttype=ttype,
        start_day=start,
        end_day=end,
        weekly_rent=rent,
        arrears=(weeks * rent).round(2),
        nsp_day=nsp,
        order_day=order,
        eviction_day=np.where(evicted, end, -1),
    )


def _present(w: World) -> np.ndarray:
    return np.flatnonzero(w.fam["status"] != GONE)


def _benefits(w: World, m: int, active: np.ndarray, ev: np.ndarray) -> None:
    f, rng = w.fam, w.rng
    fams = _present(w)
    e, c, z, t = f["E"][fams], f["C"][fams], f["Z"][fams], f["T"][fams]
    eligible = ((e >= 1) & (c != ch.OLDER)) | ((c == ch.OLDER) & (z == 1))
    claim = f["claim"][fams]
    kids = w._n_children(fams)
    starting = fams[eligible & (claim < 0)]
    ending = fams[~eligible & (claim >= 0)]
    f.cols["claim"][starting] = w._next_ids("claim", starting.size)
    renter = np.isin(t, (ch.PRIVATE, ch.SOCIAL))
    cap = fams[eligible & (claim >= 0) & ~f["capped"][fams] & (e == 2) & (kids >= 3) & renter]
    f.cols["capped"][cap] = True
    on = fams[eligible & (claim >= 0)]
    susp = on[(f["E"][on] == 2) & (rng.random(on.size) < 0.01)]
    over = on[rng.random(on.size) < 0.004]
    # a working young adult at home reduces the claim: non-dependant deduction
    ya = np.flatnonzero((f["C"] == ch.YOUNG_AT_HOME) & (f["status"] != GONE) & (f["E"] == ch.STABLE))
    ya_props = np.unique(f["prop"][ya])
    ndd = on[np.isin(f["prop"][on], ya_props) & ~f["ndd"][on]]
    f.cols["ndd"][ndd] = True
    changed = active[np.isin(ev, (ch.EV_BIRTH, ch.EV_PARTNERING, ch.EV_SEPARATION))]
    change = changed[f["claim"][changed] >= 0]
    rows = [
        (starting, "NEWCLAIM"),
        (cap, "CAP"),
        (susp, "SUSP"),
        (ndd, "NDD"),
        (over, "OVERPAY"),
        (change, "CHANGE"),
        (ending, "END"),
    ]
    for fids, kind in rows:
        if fids.size == 0:
            continue
        ten = f["T"][fids]
        props = f["prop"][fids]
        rent = w.weekly_rent[props]
        hb = np.where(ten == ch.SOCIAL, rent, np.where(ten == ch.PRIVATE, np.minimum(rent, 230.0), 0.0))
        hb = np.where(kind == "END", 0.0, hb).round(2)
        ctr = np.where(kind == "END", 0.0, (w.ct_bill[props] * 12 / 52 * 0.6)).round(2)
        uc = rng.random(fids.size) < min(0.95, 0.55 + 0.01 * max(m, 0))
        w.rec["benefits"].add(
            claim=f["claim"][fids],
            event=np.full(fids.size, kind, dtype=object),
            event_day=w.day_in_month(m, fids.size),
            person=f["lead"][fids],
            partner=f["partner"][fids],
            prop=props,
            hb_weekly=hb,
            ctr_weekly=ctr,
            uc=uc,
            dependants=w._n_children(fids),
            disability=w.people["disabled"][f["lead"][fids]],
        )
    f.cols["claim"][ending] = -1
    f.cols["capped"][ending] = False
    f.cols["ndd"][ending] = False


def _childrens(w: World, m: int) -> None:
    f, pe, rng, p = w.fam, w.people, w.rng, w.params.cs_referral
    fams = np.flatnonzero((f["status"] != GONE) & np.isin(f["C"], ch.KID_TYPES))
    kids_n = w._n_children(fams)
    fams = fams[(kids_n > 0) & (f["cs_open"][fams] < m)]
    r, u, e = f["R"][fams], f["U"][fams], f["E"][fams]
    pr = p[0] + p[1] * (r == 1) + p[2] * (r == 2) + p[3] * u + p[4] * (e == 2) + 0.003 * f["V"][fams]
    ref = fams[rng.random(fams.size) < pr]
    if ref.size == 0:
        return
    kids = np.flatnonzero((pe["role"] == 2) & (pe["exit_month"] < 0) & np.isin(pe["family"], ref))
    perm = rng.permutation(kids.size)
    fam_of = pe["family"][kids[perm]]
    _, first = np.unique(fam_of, return_index=True)
    child = kids[perm][first]
    fam = pe["family"][child]
    rr = f["R"][fam]
    cat_p = np.where(
        rr[:, None] == 2,
        [[0.1, 0.4, 0.5]],
        np.where(rr[:, None] == 1, [[0.5, 0.4, 0.1]], [[0.7, 0.25, 0.05]]),
    )
    cat = ch._draw(cat_p, rng, fam.size)
    src = np.where(
        rr == 2,
        rng.choice(["POL", "SCH", "HLT", "LA"], fam.size, p=[0.6, 0.2, 0.1, 0.1]),
        rng.choice(["POL", "SCH", "HLT", "LA", "OTH"], fam.size, p=[0.15, 0.4, 0.25, 0.1, 0.1]),
    )
    dur_m = rng.integers(2, 13, fam.size)
    f.cols["cs_open"][fam] = m + dur_m
    day = w.day_in_month(m, fam.size)
    w.rec["childrens_services"].add(
        referral=w._next_ids("cs", fam.size),
        person=child,
        carer1=f["lead"][fam],
        carer2=f["partner"][fam],
        prop=f["prop"][fam],
        referral_day=day,
        category=np.asarray(["EH", "CIN", "CP"])[cat],
        source=src,
        close_day=day + dur_m * 30 + rng.integers(0, 20, fam.size),
    )


def _adult_care(w: World, m: int) -> None:
    f, pe, rng = w.fam, w.people, w.rng
    adults = np.flatnonzero((pe["exit_month"] < 0) & (pe["role"] <= 1) & (pe["family"] >= 0))
    fam = pe["family"][adults]
    v = f["V"][fam] == 1
    older = f["C"][fam] == ch.OLDER
    lead = pe["role"][adults] == 0
    closed = pe["asc_open"][adults] & (pe["asc_end"][adults] <= m)
    pe.cols["asc_open"][adults[closed]] = False
    pr = np.where(v & lead, 0.03, np.where(older, 0.004, 0.0002))
    start = adults[~pe["asc_open"][adults] & (rng.random(adults.size) < pr)]
    if start.size == 0:
        return
    reason = pe["asc_reason"][start]
    fresh = reason < 0
    is_older = f["C"][pe["family"][start]] == ch.OLDER
    reason[fresh] = np.where(is_older[fresh], 2, rng.choice(4, fresh.sum(), p=[0.45, 0.2, 0.2, 0.15]))
    pe.cols["asc_reason"][start] = reason
    dur = rng.integers(6, 25, start.size)
    pe.cols["asc_open"][start] = True
    pe.cols["asc_end"][start] = m + dur
    day = w.day_in_month(m, start.size)
    w.rec["adult_social_care"].add(
        episode=w._next_ids("asc", start.size),
        person=start,
        prop=pe["prop"][start],
        start_day=day,
        end_day=day + dur * 30,
        reason=np.asarray(["MH", "LD", "PS", "SUB"])[reason],
    )


def _education(w: World, m: int) -> None:
    cal = int((w.start + m).astype(int) % 12)
    if cal not in TERM_END:
        return
    f, pe, rng = w.fam, w.people, w.rng
    end = w.month_end_day(m)
    kids = np.flatnonzero((pe["role"] == 2) & (pe["exit_month"] < 0) & (pe["family"] >= 0))
    age = (end - pe["dob"][kids]) / 365.25
    kids = kids[(age >= 5) & (age < 16)]
    fam = pe["family"][kids]
    r, u, e, t = f["R"][fam], f["U"][fam], f["E"][fam], f["T"][fam]
    absent = rng.random(kids.size) < 0.07 + 0.2 * (r >= 1) + 0.15 * u + 0.08 * (e == 2) + 0.1 * (
        t == ch.WITH_OTHERS
    )
    susp = rng.poisson(0.02 + 0.15 * (r == 2) + 0.05 * u + 0.03 * (r == 1))
    excl = rng.random(kids.size) < 0.0008 + 0.008 * (r == 2) + 0.003 * u
    year = int((w.start + m).astype("datetime64[Y]").astype(int) + 1970)
    school_year = year if cal == 11 else year - 1  # the autumn term starts the school year
    term = f"{school_year}-{(school_year + 1) % 100:02d} {TERM_END[cal]}"
    w.rec["education"].add(
        person=kids,
        prop=pe["prop"][kids],
        term=np.full(kids.size, term, dtype=object),
        term_end_day=np.full(kids.size, end),
        fsm=(e >= 1) & (f["claim"][fam] >= 0),
        persistent_absence=absent,
        suspensions=susp.astype(np.int16),
        exclusion_day=np.where(excl, end - rng.integers(0, 80, kids.size), -1),
    )


def _asb(w: World, m: int) -> None:
    f, rng, p = w.fam, w.rng, w.params.asb
    fams = np.flatnonzero(f["status"] == 0)
    r, u, t = f["R"][fams], f["U"][fams], f["T"][fams]
    pr = p[0] + p[1] * (r == 2) * (f["C"][fams] != ch.YOUNG_AT_HOME) + p[2] * u + p[3] * (t == ch.WITH_OTHERS)
    inc = fams[rng.random(fams.size) < pr]
    if inc.size == 0:
        return
    da = (f["R"][inc] == 2) & (f["C"][inc] != ch.YOUNG_AT_HOME)
    cat = np.where(
        da, "DOM", rng.choice(["NOISE", "NEIGH", "CRIMDAM", "YOUTH"], inc.size, p=[0.45, 0.3, 0.15, 0.1])
    )
    role = np.where(
        da,
        rng.choice(["V", "P"], inc.size, p=[0.7, 0.3]),
        rng.choice(["V", "P", "W"], inc.size, p=[0.4, 0.35, 0.25]),
    )
    w.rec["asb_incidents"].add(
        incident=w._next_ids("asb", inc.size),
        person=f["lead"][inc],
        prop=f["prop"][inc],
        day=w.day_in_month(m, inc.size),
        category=cat,
        role=role,
    )


def _objections(w: World, m: int) -> None:
    pe, rng = w.people, w.rng
    adults = np.flatnonzero(
        (pe["exit_month"] < 0) & (pe["role"] <= 1) & (pe["objected"] < 0) & (pe["prop"] >= 0)
    )
    obj = adults[rng.random(adults.size) < w.params.objection_rate]
    if obj.size == 0:
        return
    upheld = rng.random(obj.size) < 0.7
    pe.cols["objected"][obj[upheld]] = m
    day = w.day_in_month(m, obj.size)
    w.rec["objections"].add(
        objection=w._next_ids("objection", obj.size),
        person=obj,
        prop=pe["prop"][obj],
        received_day=day,
        status=np.where(upheld, "UPHELD", "NOT_UPHELD"),
        decided_day=day + rng.integers(5, 30, obj.size),
    )
