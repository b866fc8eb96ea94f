"""The oracle: each cohort household's true probability of the label, and the realised labels.

Label (council-data.md): a homelessness case with an initial prevention or relief duty is
opened within the horizon after the as-of date for anyone who lived in the household then.
Households all of whose members left the borough or died within the horizon, with no such
case, are censored. The oracle is P(label | not censored, everything the simulation knows at
the as-of date), computed exactly by riskflag.synth.chain.Chain.backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskflag.synth import chain as ch

if TYPE_CHECKING:
    from riskflag.synth.simulate import World

HORIZONS = (56, 182, 365)
ACTIVE, IN_CASE, IN_TA, GONE = 0, 1, 2, 3


def snapshot(w: World, m: int) -> dict[str, np.ndarray]:
    """What the oracle and the realised labels need from the end of month m."""
    f, pe = w.fam, w.people
    fam_here = np.flatnonzero(f["status"] != GONE)
    persons = np.flatnonzero((pe["exit_month"] < 0) & (pe["family"] >= 0))
    kids = persons[pe["role"][persons] == 2]
    b18 = pe["dob"][kids] + round(18 * 365.25)
    starts = (w.month_start - np.datetime64("1970-01-01", "D")).astype(np.int64)
    b18_month = np.searchsorted(starts, b18, side="right") - 1
    soon = b18_month <= m + 14
    return {
        "family": fam_here.astype(np.int32),
        "prop": f["prop"][fam_here].astype(np.int32),
        "status": f["status"][fam_here].copy(),
        "state": ch.encode({k: f[k][fam_here] for k in ch.VARS}).astype(np.int32),
        "person": persons.astype(np.int32),
        "person_prop": pe["prop"][persons].astype(np.int32),
        "objected": (pe["objected"][persons] >= 0) & (pe["objected"][persons] <= m),
        "kid_family": pe["family"][kids][soon].astype(np.int32),
        "kid_b18_month": b18_month[soon].astype(np.int32),
        "kid_disabled": pe["disabled"][kids][soon].astype(np.int8),
    }


def _product_by(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Product of values within each group (0..n-1), as exp of summed logs; zeros stay zero."""
    with np.errstate(divide="ignore"):
        return np.exp(np.bincount(group, weights=np.log(values), minlength=n))


def windows(w: World, m: int, horizon: int) -> tuple[int, float]:
    """Months in the window after month m's end, and the share of the last one inside it."""
    t = np.datetime64(w.month_start[m + 1] - 1)
    end = t + horizon
    last = int(np.searchsorted(w.month_start, end, side="right") - 1)
    days_in = int((end - w.month_start[last]).astype(int)) + 1
    return last - m, days_in / int(w.month_days[last])


def cohort(snap: dict[str, np.ndarray], is_ta: np.ndarray) -> np.ndarray:
    """Homes in the council-tax base, less those with an open case, in temporary
    accommodation, or where someone has an upheld objection."""
    props = snap["prop"]
    occupied = np.unique(props[snap["status"] == ACTIVE])
    blocked = np.unique(props[snap["status"] != ACTIVE])
    objecting = np.unique(snap["person_prop"][snap["objected"]])
    keep = ~np.isin(occupied, blocked) & ~is_ta[occupied] & ~np.isin(occupied, objecting)
    return occupied[keep]


def compute(w: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oracle probabilities and realised labels for every snapshot and horizon, in memory."""
    parts: dict[str, list[pd.DataFrame]] = {"oracle": [], "labels": []}
    stream(w, lambda kind, df: parts[kind].append(df))
    return pd.concat(parts["oracle"], ignore_index=True), pd.concat(parts["labels"], ignore_index=True)


def stream(w: World, sink: Callable[[str, pd.DataFrame], None]) -> None:
    """Oracle probabilities and realised labels, one as-of date and horizon at a time."""
    c = w.chain
    months = sorted(w.snapshots)
    combos = {(m, h): windows(w, m, h) for m in months for h in HORIZONS}
    weights = sorted({round(v[1], 12) for v in combos.values()})
    col = {wt: j for j, wt in enumerate(weights)}
    n_max = max(v[0] for v in combos.values())
    S, X = c.backward(weights, n_max)
    young = {(z, v): c.young_states(z, v) for z in (0, 1) for v in (0, 1)}

    cases = w.rec["homelessness_cases"].frame()
    cases = cases[cases["labelled"]]
    pe = w.people
    exit_month = pe["exit_month"]
    sim_end = w.month_end_day(w.months - 1)
    uprn = w.gaz.props["uprn"].to_numpy()
    month_end = (w.month_start[1:] - np.datetime64("1970-01-01", "D")).astype(np.int64) - 1
    for m in months:
        snap = w.snapshots[m]
        homes = cohort(snap, w.is_ta)
        act = snap["status"] == ACTIVE
        fam_prop = snap["prop"][act]
        fam_state = snap["state"][act]
        fam_id = snap["family"][act]
        in_cohort = np.isin(fam_prop, homes)
        fam_prop, fam_state, fam_id = fam_prop[in_cohort], fam_state[in_cohort], fam_id[in_cohort]
        z = ch.decode(fam_state)["Z"]
        pos = np.searchsorted(homes, fam_prop)
        t_day = w.month_end_day(m)
        # members and their exits, for labels and censoring
        mem = np.isin(snap["person_prop"], homes)
        mem_person = snap["person"][mem]
        mem_home = np.searchsorted(homes, snap["person_prop"][mem])
        for h in HORIZONS:
            n, wt = combos[(m, h)]
            j = col[round(wt, 12)]
            s_f = S[n, j, fam_state].copy()
            x_f = X[n, j, fam_state].copy()
            # children turning 18 inside the window become young adults at home
            kid_in = np.isin(snap["kid_family"], fam_id)
            kf, kb, kd = (
                snap["kid_family"][kid_in],
                snap["kid_b18_month"][kid_in],
                snap["kid_disabled"][kid_in],
            )
            r = kb - m
            spawn = (r >= 1) & (r <= n)
            if spawn.any():
                fi = pd.Index(fam_id).get_indexer(kf[spawn])
                rr = r[spawn]
                for (zz, vv), (idx, pr) in young.items():
                    sel = (z[fi] == zz) & (kd[spawn] == vv)
                    if sel.any():
                        f_s = S[: n + 1, j][:, idx] @ pr
                        f_x = X[: n + 1, j][:, idx] @ pr
                        s_f *= _product_by(fi[sel], f_s[n - rr[sel]], s_f.size)
                        x_f *= _product_by(fi[sel], f_x[n - rr[sel]], x_f.size)
            s_h = _product_by(pos, s_f, homes.size)
            x_h = _product_by(pos, x_f, homes.size)
            p = (1 - s_h) / (1 - x_h)
            sink(
                "oracle",
                pd.DataFrame(
                    {
                        "as_of_month": np.int16(m),
                        "uprn": uprn[homes],
                        "horizon_days": np.int16(h),
                        "probability": p,
                        "p_censored": x_h,
                    }
                ),
            )
            # realised
            end_day = t_day + h
            hit = cases[(cases["approach_day"] > t_day) & (cases["approach_day"] <= end_day)]
            label = np.zeros(homes.size, bool)
            who = np.isin(mem_person, hit["person"].to_numpy())
            label[mem_home[who]] = True
            ex = exit_month[mem_person]
            gone = (ex >= 0) & (month_end[np.maximum(ex, 0)] <= end_day)
            all_gone = np.bincount(mem_home, weights=~gone, minlength=homes.size) == 0
            sink(
                "labels",
                pd.DataFrame(
                    {
                        "as_of_month": np.int16(m),
                        "uprn": uprn[homes],
                        "horizon_days": np.int16(h),
                        "label": label,
                        "censored": all_gone & ~label,
                        "observed": end_day <= sim_end,
                    }
                ),
            )


def quality(scored: dict[int, dict[str, np.ndarray]]) -> dict:
    """The oracle against realised labels, pooled over as-of dates whose horizon has passed.

    scored: per horizon, arrays as_of_month, probability and label over the households whose
    label was observed and not censored."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for h in sorted(scored):
        m, p, y = scored[h]["as_of_month"], scored[h]["probability"], scored[h]["label"]
        months, counts = np.unique(m, return_counts=True)
        # top 1% of each as-of date's cohort by oracle probability
        order = np.lexsort((-p, m))
        start = np.repeat(np.cumsum(counts) - counts, counts)
        rank = np.arange(order.size) - start
        k = np.repeat(np.maximum(1, np.round(0.01 * counts)), counts)
        top = order[rank < k]
        out[str(h)] = {
            "household_dates": int(y.size), "as_of_dates": int(months.size),
            "base_rate": float(y.mean()), "expected_rate": float(p.mean()),
            "observed_over_expected": float(y.sum() / p.sum()),
            "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else None,
            "precision_top_1pct": float(y[top].mean()),
            "expected_precision_top_1pct": float(p[top].mean()),
        }  # fmt: skip
    return out


def recorded_signals(w: World) -> pd.DataFrame:
    """What single council systems recorded about each home at each snapshot month end:
    the yardstick for 'no single recorded signal does the oracle's job'."""
    uprn = w.gaz.props["uprn"].to_numpy()
    ct = w.rec["council_tax"].frame()
    rent = w.rec["rent_accounts"].frame()
    cs = w.rec["childrens_services"].frame()
    asb = w.rec["asb_incidents"].frame()
    ben = w.rec["benefits"].frame()
    rows = []
    for m in sorted(w.snapshots):
        t = w.month_end_day(m)
        homes = cohort(w.snapshots[m], w.is_ta)
        s = pd.DataFrame(index=pd.Index(homes, name="prop"))
        c = ct[ct["month"] == m].groupby("prop").agg(ct_arrears=("arrears", "max"), ct_stage=("stage", "max"))
        r = (
            rent[rent["month"] == m]
            .groupby("prop")
            .agg(rent_arrears=("arrears", "max"), nsp=("nsp_day", "max"), order=("order_day", "max"))
        )
        s = s.join(c).join(r)
        s["notice_of_seeking_possession"] = (s.pop("nsp").fillna(-1) >= 0).astype(int)
        s["possession_order"] = (s.pop("order").fillna(-1) >= 0).astype(int)
        if len(cs):
            open_cs = cs[(cs["referral_day"] <= t) & (cs["close_day"] > t)]
            s["childrens_referral_open"] = s.index.isin(open_cs["prop"]).astype(int)
        if len(asb):
            recent = asb[(asb["day"] <= t) & (asb["day"] > t - 182)]
            s["asb_last_6_months"] = recent.groupby("prop").size().reindex(s.index).fillna(0)
        if len(ben):
            capped = ben[(ben["event"] == "CAP") & (ben["event_day"] <= t) & (ben["event_day"] > t - 365)]
            s["benefit_cap_last_year"] = s.index.isin(capped["prop"]).astype(int)
        s = s.fillna(0).reset_index()
        s.insert(0, "uprn", uprn[s.pop("prop")])
        s.insert(0, "as_of_month", m)
        rows.append(s)
    return pd.concat(rows, ignore_index=True)
