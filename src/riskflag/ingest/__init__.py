"""Ingest: read each delivery, map it onto its contract, validate, quarantine and append to the
warehouse's history. Public interface: `validate_council` and the warehouse's readers
(`open_warehouse`, `table_exists`, `known`, `known_at_sql`, `term_start`)."""

from riskflag.ingest.pipeline import validate_council
from riskflag.ingest.validate import RunResult
from riskflag.ingest.warehouse import (
    deliveries_in_force,
    known,
    known_at_sql,
    open_warehouse,
    table_exists,
    term_start,
)

__all__ = [
    "RunResult", "deliveries_in_force", "known", "known_at_sql", "open_warehouse", "table_exists",
    "term_start", "validate_council",
]  # fmt: skip
