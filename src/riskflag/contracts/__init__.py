"""Data contracts: each source's ODCS document, read into typed fields, and compiled into one
Great Expectations suite. Public interface: `load_contract`, `Contract`, `Field`, and the suite
building blocks ingest uses (from `riskflag.contracts.suite`, re-exported here)."""

from riskflag.contracts.contract import Contract, Field, load_contract
from riskflag.contracts.suite import (
    PAD,
    VID,
    Check,
    Group,
    SuiteBuilder,
    like_lengths,
    member_select,
    pair_rule,
    preload,
    run_suite,
)

__all__ = [
    "PAD", "VID", "Check", "Contract", "Field", "Group", "SuiteBuilder", "like_lengths", "load_contract",
    "member_select", "pair_rule", "preload", "run_suite",
]  # fmt: skip
