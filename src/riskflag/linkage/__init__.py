"""Linkage: records to people, addresses to UPRNs, people to households, with stable ids and a
history of how the linkage stood at each run. Public interface: the functions below."""

from riskflag.linkage import history
from riskflag.linkage.evaluate import compare_runs, evaluate_linkage
from riskflag.linkage.mentions import SOURCES
from riskflag.linkage.overrides import apply_review, read_overrides
from riskflag.linkage.pipeline import latest_model, link_council, replay_council, train_council

__all__ = [
    "SOURCES", "apply_review", "compare_runs", "evaluate_linkage", "history", "latest_model", "link_council",
    "read_overrides", "replay_council", "train_council",
]  # fmt: skip
