"""Statistical properties of the simulated borough and its oracle (20k households, one seed
not used while the world's rates were set)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from riskflag.synth import chain as ch
from riskflag.synth import oracle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored(world_20k) -> pd.DataFrame:
    """Oracle and realised label per cohort household and as-of date, 182-day horizon, where
    the label was observed and not censored."""
    _, o, lab = world_20k
    d = o.merge(lab, on=["as_of_month", "uprn", "horizon_days"])
    return d[(d["horizon_days"] == 182) & d["observed"] & ~d["censored"]].reset_index(drop=True)


def _households(w, m: int) -> pd.DataFrame:
    snap = w.snapshots[m]
    act = snap["status"] == 0
    homes = oracle.cohort(snap, w.is_ta)
    st = ch.decode(snap["state"][act])
    fam = pd.DataFrame({"prop": snap["prop"][act], "C": st["C"], "T": st["T"]})
    fam = fam[fam["prop"].isin(homes)]
    return fam


def test_tenure_mix_is_englands(world_20k) -> None:
    w, _, _ = world_20k
    for m in (11, 59):
        fam = _households(w, m)
        own = fam[fam["T"] != ch.WITH_OTHERS].groupby("prop")["T"].min()
        share = own.value_counts(normalize=True)
        assert 0.60 <= share[ch.OWNER] <= 0.68, share
        assert 0.16 <= share[ch.PRIVATE] <= 0.22, share
        assert 0.14 <= share[ch.SOCIAL] <= 0.20, share


def test_deprived_areas_rent_more(world_20k) -> None:
    w, _, _ = world_20k
    props = w.gaz.props
    rented = w.tenure != ch.OWNER
    dec = props["imd_decile"].to_numpy()
    assert rented[dec <= 3].mean() > 1.5 * rented[dec >= 8].mean()


def test_household_composition_within_bands(world_20k) -> None:
    """Bands around England's 2021 census household mix."""
    w, _, _ = world_20k
    pe = w.people
    for m in (11, 59):
        fam = _households(w, m)
        g = fam.groupby("prop")
        n_fam = g.size()
        first = g["C"].min()
        one_family = n_fam == 1
        kinds = pd.Series("other (several families: shared, adult children)", index=n_fam.index)
        kinds[one_family & first.isin([ch.SINGLE])] = "one person"
        kinds[one_family & (first == ch.OLDER)] = "older (65+)"
        kinds[one_family & (first == ch.COUPLE)] = "couple, no children"
        kinds[one_family & (first == ch.COUPLE_KIDS)] = "couple with children"
        kinds[one_family & (first == ch.LONE_PARENT)] = "lone parent"
        share = kinds.value_counts(normalize=True)
        bands = {
            "one person": (0.15, 0.30),
            "older (65+)": (0.12, 0.25),
            "couple, no children": (0.10, 0.22),
            "couple with children": (0.15, 0.30),
            "lone parent": (0.06, 0.14),
            "other (several families: shared, adult children)": (0.05, 0.20),
        }
        for k, (lo, hi) in bands.items():
            assert lo <= share.get(k, 0) <= hi, (m, k, share.get(k, 0))
    people_per_home = (pe["prop"] >= 0).sum() / w.occupancy().astype(bool).sum()
    assert 2.0 < people_per_home < 2.7


def test_base_rate_of_the_182_day_label(scored: pd.DataFrame) -> None:
    rate = scored["label"].mean()
    assert 0.01 <= rate <= 0.03, rate


def test_oracle_is_calibrated(scored: pd.DataFrame) -> None:
    """Observed/expected pooled over as-of dates, and by decile of oracle probability.

    Intervals are 95% and simultaneous over the ten deciles (Sidak), with variance from the
    residuals clustered by household, because one home appears at many as-of dates."""
    y = scored["label"].to_numpy(float)
    p = scored["probability"].to_numpy()
    oe = y.sum() / p.sum()
    assert 0.95 <= oe <= 1.05, oe
    decile = pd.qcut(scored["probability"].rank(method="first"), 10, labels=False)
    z_crit = norm.ppf(1 - (1 - 0.95 ** (1 / 10)) / 2)
    resid = pd.DataFrame({"d": decile, "u": scored["uprn"], "r": y - p})
    for d, g in resid.groupby("d"):
        se = np.sqrt((g.groupby("u")["r"].sum() ** 2).sum())
        z = g["r"].sum() / se
        assert abs(z) < z_crit, (d, z, g["r"].sum())


def test_world_is_realistic_not_easy(scored: pd.DataFrame) -> None:
    auc = roc_auc_score(scored["label"], scored["probability"])
    assert 0.80 <= auc <= 0.92, auc


def _precision_top(d: pd.DataFrame, score: str, rng: np.random.Generator) -> float:
    """Realised precision of the top 1% of each as-of date's cohort, ties broken at random."""
    d = d.assign(_tie=rng.random(len(d)))
    d = d.sort_values(["as_of_month", score, "_tie"], ascending=[True, False, False])
    k = (d.groupby("as_of_month")["uprn"].transform("size") * 0.01).round().clip(lower=1)
    rank = d.groupby("as_of_month").cumcount() + 1
    return float(d.loc[rank <= k, "label"].mean())


def test_no_single_recorded_signal_does_the_oracles_job(world_20k, scored: pd.DataFrame) -> None:
    w, _, _ = world_20k
    sig = oracle.recorded_signals(w)
    d = scored.merge(sig, on=["as_of_month", "uprn"], how="left").fillna(0)
    rng = np.random.default_rng(0)
    best = _precision_top(d, "probability", rng)
    assert best > 0.15
    signals = [c for c in sig.columns if c not in ("as_of_month", "uprn")]
    assert {"rent_arrears", "ct_arrears", "possession_order", "childrens_referral_open"} <= set(signals)
    for s in signals:
        prec = _precision_top(d, s, rng)
        assert prec <= 0.6 * best, (s, prec, best)


def _advice_then_approach(w) -> tuple[pd.DataFrame, float]:
    """Advice-only cases, and the share followed by the same family's approach (a duty owed)
    within 182 days."""
    cases = w.rec["homelessness_cases"].frame()
    advice, duty = cases[cases["duty"] == "none"], cases[cases["labelled"]]
    d = advice.merge(duty[["family", "approach_day"]], on="family", how="left", suffixes=("", "_duty"))
    gap = d["approach_day_duty"] - d["approach_day"]
    followed = (gap > 0) & (gap <= 182)
    return advice, float(followed.groupby(d["case"]).any().mean())


def test_advice_from_threats_names_the_threat_and_comes_before_approaches() -> None:
    """The experiment's advice cases name the threat and often come before the approach; the
    default world's are at random, all reason 'other'."""
    from riskflag.synth.simulate import World, WorldParams

    worlds = {}
    for flag in (False, True):
        w = World(2_000, 40, 5, "2021-11", params=WorldParams(advice_from_threats=flag))
        w.run()
        worlds[flag] = _advice_then_approach(w)
    (plain, plain_followed), (threat, threat_followed) = worlds[False], worlds[True]
    other = len(ch.CAUSES) - 1
    assert (plain["reason"] == other).all()
    assert (threat["reason"] != other).mean() > 0.5
    assert len(threat) > 2 * len(plain)
    assert threat_followed > 3 * plain_followed, (threat_followed, plain_followed)
