"""Contracts compiled into one Great Expectations suite, run over the night's distinct values.

Every row-level rule in a contract is about one value (a pattern, a range, an allowed code, a
length, presence) or one pair (a date against the delivery date or another field). So GX
validates distinct values, not rows: a council-tax history of twelve million rows holds a few
hundred thousand distinct values, and the verdict on a value is the verdict on every row that
holds it. DuckDB collects the values and maps each failing one back to its rows.

GX's cost is mostly fixed per expectation (about 50 ms), so the values of every field and
every source that share a rule's parameters are stacked into one column and checked by one
expectation: one for every field's formula check, one per length limit, one per pattern (UK
postcode, NI number, ...), one for all allowed-value lists (values keyed `source.field=value`),
one for presence, one per range, one for all date pairs. A night's run is about fifteen
expectations whatever the number of sources, run over a few frames of like-length columns
(see run_suite).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa

from riskflag.config import SourceConfig
from riskflag.contracts.contract import Contract, Field
from riskflag.core import sql
from riskflag.core.safe import FORMULA_PATTERN

# A cell that starts like this is run as a formula by spreadsheet programs (OWASP: CSV injection).
DELIVERY = "delivery"
VID = "_vid"
PAD = ""  # padding of the presence column: present, and mapped back to nothing


@dataclass(frozen=True)
class Check:
    """The distinct values of one field (or one pair) of one source."""

    source: str
    field: str
    chk: str  # the field, or "field|delivery" / "field|other_field" for a pair
    value: str  # SQL over the field's clean column
    where: str = "true"  # which of this run's rows the check applies to
    bound: str | None = None  # a pair's other side: _delivered_on or another field


@dataclass
class Group:
    """One expectation over the stacked values of many checks."""

    name: str
    rule: str  # a fixed rule name, or "" when it is per check (pairs: after_<bound>)
    kind: str  # GX expectation class
    kwargs: dict[str, object]
    value: str  # how a member's value is written into the column: text, num, day, keyed, present
    members: list[Check] = field(default_factory=list)

    @property
    def column(self) -> str:
        return self.name

    @property
    def bound_column(self) -> str:
        return f"{self.name}|bound"


def _non_capturing(pattern: str) -> str:
    """GX runs patterns with pandas' str.contains, which warns on capture groups."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


class SuiteBuilder:
    """Collects checks and their groups across sources; groups are keyed by rule parameters."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.value_sets: list[str] = []

    def _group(self, name: str, rule: str, kind: str, value: str, **kwargs: object) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name, rule, kind, kwargs, value)
        return self.groups[name]

    def add_contract(self, contract: Contract, sc: SourceConfig) -> None:
        for f in contract.fields:
            self._add_field(contract.name, f, sc)

    def _add_field(self, source: str, f: Field, sc: SourceConfig) -> None:
        name = sql.ident(f.name)
        numeric = f.logical_type in ("number", "integer")
        value = f"CAST({name} AS DOUBLE)" if numeric else name
        check = Check(source, f.name, f.name, value)
        if f.required:
            # presence depends only on nullness: the distinct values are "present" and NULL
            present = Check(source, f.name, f.name, f"CASE WHEN {name} IS NOT NULL THEN 'present' END")
            self._group("present", "required", "ExpectColumnValuesToNotBeNull", "present").members.append(
                present
            )
        if f.logical_type == "string":
            if f.pattern:
                g = self._group(
                    f"pattern {f.pattern}",
                    "pattern",
                    "ExpectColumnValuesToMatchRegex",
                    "text",
                    regex=_non_capturing(f.pattern),
                )
                g.members.append(check)
            if f.valid_values:
                key = f"{source}.{f.name}="
                self.value_sets += [key + v for v in f.valid_values]
                self._group(
                    "allowed", "not_allowed_value", "ExpectColumnValuesToBeInSet", "keyed"
                ).members.append(check)
            if f.max_length:
                kind = "ExpectColumnValueLengthsToBeBetween"
                g = self._group(f"length {f.max_length}", "too_long", kind, "text", max_value=f.max_length)
                g.members.append(check)
            if f.name not in sc.values and not f.valid_values and not f.pattern:
                g = self._group(
                    "formula",
                    "formula_like_text",
                    "ExpectColumnValuesToNotMatchRegex",
                    "text",
                    regex=FORMULA_PATTERN,
                )
                g.members.append(check)
        if numeric and (f.minimum is not None or f.maximum is not None):
            g = self._group(
                f"range {f.minimum}..{f.maximum}",
                "out_of_range",
                "ExpectColumnValuesToBeBetween",
                "num",
                min_value=f.minimum,
                max_value=f.maximum,
            )
            g.members.append(check)
        pairs = []
        if f.not_after_delivery:
            pairs.append((f"{f.name}|{DELIVERY}", "_delivered_on"))
        if f.not_after_field:
            pairs.append((f"{f.name}|{f.not_after_field}", sql.ident(f.not_after_field)))
        for chk, bound in pairs:
            pair = self._group(
                "not after",
                "",
                "ExpectColumnPairValuesAToBeGreaterThanB",
                "day",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
            pair.members.append(
                Check(source, f.name, chk, name, f"{name} IS NOT NULL AND {bound} IS NOT NULL", bound)
            )

    def finish(self) -> list[Group]:
        groups = [g for g in self.groups.values() if g.members]
        for g in groups:
            if g.kind == "ExpectColumnValuesToBeInSet":
                g.kwargs = {"value_set": sorted(self.value_sets)}
            if g.kind == "ExpectColumnPairValuesAToBeGreaterThanB":
                g.kwargs = {"column_A": g.bound_column, "column_B": g.column, **g.kwargs}
            else:
                g.kwargs = {"column": g.column, **g.kwargs}
        return groups


def pair_rule(check: Check) -> str:
    return "after_delivery_date" if check.bound == "_delivered_on" else f"after_{check.chk.split('|', 1)[1]}"


def member_select(g: Group, c: Check, rel: str) -> str:
    """One member's distinct values as (source, chk, v, b) rows for the group's table: from rel,
    the field's dictionary of values (only those that parsed), or for a pair this run's rows."""
    v = f"{sql.string(f'{c.source}.{c.field}=')} || {c.value}" if g.value == "keyed" else c.value
    b = c.bound or "NULL::DATE"
    where = c.where if c.bound else f"{sql.ident(c.field + '__bad')} IS NULL"
    return (
        f"SELECT DISTINCT {sql.string(c.source)} AS source, {sql.string(c.chk)} AS chk, {c.value} AS raw_v, "
        f"{v} AS v, {b} AS b "
        f"FROM {rel} WHERE {where}"
    )


def values_frame(columns: dict[str, pa.ChunkedArray], pad: dict[str, object]) -> pd.DataFrame:
    """Columns of different lengths side by side; a column named in pad is padded with its value,
    any other with NULL, which GX's value rules skip. Built in Arrow and converted once: a
    large council's history holds millions of distinct values."""
    n = max((len(a) for a in columns.values()), default=0)
    out = {}
    for name, a in columns.items():
        if pa.types.is_date(a.type):
            a = a.cast(pa.timestamp("us"))
        if len(a) < n:
            filler = pa.nulls(n - len(a), a.type)
            if name in pad:
                filler = filler.fill_null(pa.scalar(pad[name], a.type))
            a = pa.chunked_array([*a.chunks, filler], a.type)
        out[name] = a
    out[VID] = pa.chunked_array([pa.array(np.arange(n, dtype=np.int64))])
    return pa.table(out).to_pandas()


def preload() -> threading.Thread:
    """Import GX (seconds) on a thread while the night's files are read and staged."""
    t = threading.Thread(target=_context, name="gx-import", daemon=True)
    t.start()
    return t


@cache
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = ctx.data_sources.add_pandas("riskflag").add_dataframe_asset("values")
    return ctx, asset.add_batch_definition_whole_dataframe("all")


def build_suite(name: str, groups: list[Group]):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=name)
    for i, g in enumerate(groups):
        suite.add_expectation(getattr(gxe, g.kind)(**g.kwargs, meta={"group": g.name, "i": i}))
    return suite


def _run(name: str, groups: list[Group], values: pd.DataFrame, result_format: dict | str) -> list:
    import great_expectations as gx

    ctx, batch = _context()
    suite = ctx.suites.add_or_update(build_suite(name, groups))
    vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    results = vd.run(batch_parameters={"dataframe": values}, result_format=result_format).results
    for res in results:
        info = res.exception_info or {}
        if info.get("raised_exception"):
            raise RuntimeError(
                f"{name}: expectation {res.expectation_config.type} could not run: "
                f"{info.get('exception_message')}"
            )
    return results


def like_lengths(groups: list[Group], lengths: dict[str, int], ratio: int = 4) -> list[list[Group]]:
    """Groups batched by the length of their columns, longest first; a batch takes groups down to
    a quarter of its longest column's length."""
    batches: list[list[Group]] = []
    for g in sorted(groups, key=lambda g: (-lengths[g.column], g.name)):
        if batches and lengths[g.column] * ratio >= lengths[batches[-1][0].column]:
            batches[-1].append(g)
        else:
            batches.append([g])
    return batches


def run_suite(
    name: str, groups: list[Group], columns: dict[str, pa.ChunkedArray], pad: dict[str, object]
) -> pd.DataFrame:
    """The suite over the values: (group, vid) for every failing value. Groups run in batches of
    like-length columns, each batch over its own frame: one frame padded to the longest column
    would be mostly padding (a large council's history: nineteen columns of 3.8 million rows for
    two that long), and it is the frame's size that sets the peak memory of the night's ingest."""
    found = [pd.DataFrame({"group": pd.Series(dtype=str), VID: pd.Series(dtype="int64")})]
    for i, batch in enumerate(like_lengths(groups, {c: len(a) for c, a in columns.items()})):
        cols = {c: columns[c] for g in batch for c in (g.column, g.bound_column) if c in columns}
        values = values_frame(cols, {c: v for c, v in pad.items() if c in cols})
        found.append(_failures(f"{name}-{i}", batch, values))
        del values
    return pd.concat(found, ignore_index=True).drop_duplicates()


def _failures(name: str, groups: list[Group], values: pd.DataFrame) -> pd.DataFrame:
    """One GX run with the cheapest result format; only failed expectations run again to list
    their values."""
    rows: list[tuple[str, int]] = []
    if groups and not values.empty:
        verdicts = _run(name, groups, values, "BOOLEAN_ONLY")
        failed = [groups[int(r.expectation_config.meta["i"])] for r in verdicts if not r.success]
        if failed:
            fmt = {"result_format": "COMPLETE", "unexpected_index_column_names": [VID]}
            needed = [c for g in failed for c in (g.column, g.bound_column) if c in values.columns]
            for res in _run(f"{name}-failures", failed, values[[*dict.fromkeys(needed), VID]], fmt):
                group = res.expectation_config.meta["group"]
                rows += [(group, int(item[VID])) for item in res.result.get("unexpected_index_list") or []]
    return pd.DataFrame(rows, columns=["group", VID])
