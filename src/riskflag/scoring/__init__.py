"""Scoring: the champion model, tonight's ranking, bands and selection, reasons and evidence, the
published cohort and lists, and subject access. Public interface: the names below; the nightly
run that wires them is riskflag.jobs.nightly."""

from riskflag.scoring.champion import Champion
from riskflag.scoring.champion import resolve as resolve_champion
from riskflag.scoring.evidence import Flagged, flag_households, gather, names_and_addresses
from riskflag.scoring.explain import Explained, load_reasons
from riskflag.scoring.explain import explain as explain_households
from riskflag.scoring.flag import band, rank, select, status, suppressions
from riskflag.scoring.publish import (
    cohort_csv,
    cohort_parquet,
    cohort_table,
    now_iso,
    previous_flags,
    publish_folder,
    root,
    slug,
    team_html,
    write_status,
)
from riskflag.scoring.subject_access import export

__all__ = [
    "Champion", "Explained", "Flagged", "band", "cohort_csv", "cohort_parquet",
    "cohort_table", "explain_households", "export", "flag_households", "gather", "load_reasons",
    "names_and_addresses",
    "now_iso", "previous_flags", "publish_folder", "rank", "resolve_champion", "root", "select", "slug",
    "status", "suppressions", "team_html", "write_status",
]  # fmt: skip
