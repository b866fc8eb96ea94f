"""Shared fixtures. Councils are built once per session: a 2k-household one with extracts
(seconds), and a 20k-household world for the statistical tests (about half a minute)."""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

from pathlib import Path

import pytest

SEED_SMALL = 7
SEED_LARGE = 2024  # not a seed used while tuning the world's rates (those were 1, 3, 5 and 11)


@pytest.fixture(scope="session")
def council_2k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from riskflag.synth.run import synthesise

    out = tmp_path_factory.mktemp("council") / "c2k"
    synthesise(out, households=2000, months=60, seed=SEED_SMALL)
    return out


@pytest.fixture(scope="session")
def world_20k():
    """The simulated world (no extract files) with its oracle and realised labels."""
    from riskflag.synth import oracle
    from riskflag.synth.simulate import World

    w = World(20_000, 60, SEED_LARGE, "2021-11")
    w.run()
    o, lab = oracle.compute(w)
    return w, o, lab
