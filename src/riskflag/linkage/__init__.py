"""Linkage: records to people, addresses to UPRNs, people to households, with stable ids and a
history of how the linkage stood at each run. Public interface: the functions below.

Inside, a link run (pipeline.py) takes these steps in order, each in its own module: run.py (full
or incremental, and the run's record), collect.py (mentions and addresses), pairs.py (scoring
pairs with the Splink model of people.py), clustering.py (people, with ids.py's stable ids),
residence.py, households.py, history.py and outputs.py (summary, review file, run folder).
Steps hand each other the TEMP tables they make as values naming them; the link_* tables are
the stage's published output."""

from riskflag.linkage import history
from riskflag.linkage.evaluate import compare_runs, evaluate_linkage
from riskflag.linkage.mentions import SOURCES
from riskflag.linkage.outputs import LinkSummary
from riskflag.linkage.overrides import Pending, apply_review, pending_review, read_overrides
from riskflag.linkage.pipeline import TrainResult, latest_model, link_council, replay_council, train_council

__all__ = [
    "SOURCES", "LinkSummary", "Pending", "TrainResult", "apply_review", "compare_runs", "evaluate_linkage",
    "history", "latest_model", "link_council", "pending_review", "read_overrides", "replay_council",
    "train_council",
]  # fmt: skip
