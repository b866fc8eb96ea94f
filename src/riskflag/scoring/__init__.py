"""Scoring: the champion model, tonight's ranking and lists, reasons and evidence, and subject
access. Public interface: the names below."""

from riskflag.scoring.pipeline import NightlyStop, nightly, root
from riskflag.scoring.subject_access import export

__all__ = ["NightlyStop", "export", "nightly", "root"]
