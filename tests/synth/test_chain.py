"""The chain that drives both the simulation and the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from riskflag.synth import chain as ch


@pytest.fixture(scope="module")
def c() -> ch.Chain:
    return ch.Chain()


def test_tables_are_distributions(c: ch.Chain) -> None:
    for name in ("cpt_E", "cpt_U", "cpt_R", "cpt_Ev", "cpt_M", "cpt_T", "cpt_A", "cpt_L"):
        t = getattr(c, name)
        assert np.all(t >= 0), name
        np.testing.assert_allclose(t.sum(axis=-1), 1.0, atol=1e-12, err_msg=name)


def test_transition_matrix_rows_sum_to_one(c: ch.Chain) -> None:
    a, b = c.transitions
    np.testing.assert_allclose((a + b).sum(axis=1).A1, 1.0, atol=1e-12)


def test_families_with_children_never_leave(c: ch.Chain) -> None:
    """The oracle's exactness for children turning 18 rests on this."""
    assert np.all(c.exit_rate[list(ch.KID_TYPES)] == 0)


def _monte_carlo(c: ch.Chain, start: np.ndarray, months: int, weight: float, n: int, seed: int) -> np.ndarray:
    """Probability of no approach by the family or a partner who leaves it, by simulation."""
    rng = np.random.default_rng(seed)
    p = c.p
    s = ch.decode(np.repeat(start, n))
    owner = np.repeat(np.arange(start.size), n)
    alive = np.ones(owner.size, bool)
    hit = np.zeros(start.size * n, bool)
    sample = np.arange(owner.size)
    for k in range(1, months + 1):
        om = weight if k == months else 1.0
        idx = np.flatnonzero(alive)
        new, ev, _ = c.step({v: s[v][idx] for v in ch.VARS}, rng)
        for v in ch.VARS:
            s[v][idx] = new[v]
        app = rng.random(idx.size) < om * c.hazard(new)
        hit[sample[idx[app]]] = True
        alive[idx[app]] = False
        sep = np.flatnonzero(ev == ch.EV_SEPARATION)
        if sep.size:
            u = rng.random(sep.size)
            flee_p = np.asarray(p.flee)[new["R"][sep]]
            flee = u < flee_p
            hit[sample[idx[sep[flee]]]] |= rng.random(flee.sum()) < om
            settle = sep[u >= flee_p + p.leaver_exit]
            if k < months and settle.size:
                m = settle.size
                add = {
                    "Z": new["Z"][settle],
                    "V": new["V"][settle],
                    "P": new["P"][settle],
                    "E": new["E"][settle],
                    "U": new["U"][settle],
                    "R": np.zeros(m, np.int8),
                    "C": np.full(m, ch.SINGLE, np.int8),
                    "A": np.zeros(m, np.int8),
                    "L": np.zeros(m, np.int8),
                    "T": rng.choice(4, m, p=np.asarray(p.leaver_tenure)).astype(np.int8),
                }
                for v in ch.VARS:
                    s[v] = np.concatenate([s[v], add[v]])
                sample = np.concatenate([sample, sample[idx[settle]]])
                alive = np.concatenate([alive, np.ones(m, bool)])
        still = idx[~app]
        alive[still[rng.random(still.size) < c.exit_rate[s["C"][still], s["T"][still]]]] = False
    return 1 - hit.reshape(start.size, n).mean(axis=1)


def test_backward_recursion_matches_simulating_the_chain(c: ch.Chain) -> None:
    states = [
        dict(Z=0, V=0, P=0, E=0, U=0, R=0, C=ch.OLDER, A=0, L=0, T=ch.OWNER),
        dict(Z=1, V=1, P=0, E=2, U=1, R=2, C=ch.COUPLE_KIDS, A=3, L=1, T=ch.PRIVATE),
        dict(Z=0, V=0, P=0, E=1, U=0, R=1, C=ch.COUPLE, A=1, L=0, T=ch.SOCIAL),
        dict(Z=1, V=0, P=1, E=2, U=0, R=1, C=ch.YOUNG_AT_HOME, A=0, L=0, T=ch.WITH_OTHERS),
        dict(Z=0, V=0, P=0, E=2, U=1, R=2, C=ch.COUPLE, A=2, L=0, T=ch.PRIVATE),
    ]
    start = ch.encode({k: np.asarray([s[k] for s in states]) for k in ch.VARS})
    weights = [1.0, 0.3]
    S, _ = c.backward(weights, 7)
    n = 60_000
    for j, w in enumerate(weights):
        est = _monte_carlo(c, start, 7, w, n, seed=j)
        se = np.sqrt(np.maximum(est * (1 - est), 1e-4) / n)
        z = (est - S[7, j, start]) / se
        assert np.all(np.abs(z) < 4), (w, est, S[7, j, start])
    assert S[7, 0, start[1]] < 0.6 < S[7, 0, start[0]], "risky and safe states must differ"


def test_partial_last_month_counts_its_share(c: ch.Chain) -> None:
    S, X = c.backward([0.0, 0.5, 1.0], 1)
    h = c.hazard_all
    # with no separations possible in one month for most states, S is close to 1 - w * E[h]
    assert np.all(S[1, 0] >= S[1, 1]) and np.all(S[1, 1] >= S[1, 2])
    np.testing.assert_allclose(S[1, 0], 1.0, atol=1e-12)
    assert np.all(X[1, 1] == 0), "no exit counts in a partial month"
    assert h.max() < 1
