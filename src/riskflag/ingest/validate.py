"""The ingest stage: every new delivery read, mapped, checked against its contract, split into
accepted and quarantined rows, and the accepted ones appended to the warehouse's history.

A delivery that cannot be used at all (missing columns, an empty or cut-off file, a collapse in
volume, too many broken rows) is stopped whole with a message naming what to fix. A source
whose deliveries stopped, or whose newest accepted delivery is older than its contract's
freshness limit, has failed tonight: a critical source stops the run, any other is left out and
the run is marked degraded. Every row read is accounted for: accepted, quarantined, or held
back with a stopped delivery.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from riskflag.config import SOURCE_NAMES, CouncilConfig, SourceConfig
from riskflag.contracts import (
    PAD,
    VID,
    Check,
    Contract,
    SuiteBuilder,
    load_contract,
    member_select,
    pair_rule,
    preload,
    run_suite,
)
from riskflag.core import sql
from riskflag.errors import ConfigError
from riskflag.ingest import readers
from riskflag.ingest import standardise as st
from riskflag.ingest.deliveries import Delivery, discover
from riskflag.ingest.problems import DeliveryStop
from riskflag.ingest.warehouse import SQL_TYPES, ensure_history, history_columns, history_table

Progress = Callable[[str, str], None]
SNAPSHOT_BOUNDS = (0.5, 2.0)
MIN_REJECTS_TO_STOP = 10
STAGE_ROWS = 1_000_000


@dataclass
class DeliveryResult:
    source: str
    name: str
    delivered_on: date
    status: str  # accepted | stopped | already_loaded
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_held: int = 0
    rule: str | None = None
    message: str | None = None
    rules: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sha256: str = ""
    volume: float = 0.0  # rows per snapshot date for a full snapshot, else rows
    size: int = 0
    mtime_ns: int = 0

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_accepted + self.rows_quarantined + self.rows_held


@dataclass
class SourceResult:
    source: str
    critical: bool
    contract_version: str
    freshness_days: int
    deliveries: list[DeliveryResult] = field(default_factory=list)
    unchanged: int = 0
    latest: date | None = None
    status: str = "ok"  # ok | failed
    message: str | None = None

    def totals(self) -> dict[str, int]:
        """Rows read, accepted, quarantined and held over this run's deliveries."""
        keys = ("rows_read", "rows_accepted", "rows_quarantined", "rows_held")
        return {k: sum(getattr(d, k) for d in self.deliveries) for k in keys}

    def top_rules(self) -> list[tuple[str, int]]:
        """Quarantine rules over this run's deliveries, most frequent first."""
        rules: Counter[str] = Counter()
        for d in self.deliveries:
            rules.update(d.rules)
        return sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class RunResult:
    run_id: str
    as_of: date
    council: str
    sources: list[SourceResult]
    started_at: datetime
    finished_at: datetime | None = None

    @property
    def status(self) -> str:
        failed = [s for s in self.sources if s.status != "ok"]
        if any(s.critical for s in failed):
            return "stopped"
        return "degraded" if failed else "ok"

    @property
    def excluded(self) -> list[str]:
        return [s.source for s in self.sources if s.status != "ok"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status
        d["excluded_sources"] = self.excluded
        d["rows_conserved"] = all(x.conserved for s in self.sources for x in s.deliveries)
        return d


def check_mapping(cfg: CouncilConfig, source: str, contract: Contract) -> None:
    """The config must map every required field onto a column and every code onto an allowed value."""
    sc = cfg.sources[source]
    where = f"{cfg.path}: sources.{source}"
    names = {f.name for f in contract.fields}
    for name in sc.columns:
        if name not in names:
            raise ConfigError(f"{where}.columns.{name}: not a field of the {source} contract")
    for f in contract.fields:
        if f.required and f.name not in sc.columns:
            raise ConfigError(f"{where}.columns: required field {f.name!r} is not mapped to a column")
    for name, codes in sc.values.items():
        if name not in names:
            raise ConfigError(f"{where}.values.{name}: not a field of the {source} contract")
        valid = contract.field(name).valid_values
        if contract.field(name).logical_type == "boolean":
            valid = ("true", "false")
        for code, value in codes.items():
            if valid and value not in valid:
                raise ConfigError(
                    f"{where}.values.{name}.{code or '(blank)'}: {value!r} is not one of the contract's "
                    f"values ({', '.join(valid)})"
                )


def _file_facts(d: Delivery) -> tuple[int, int]:
    if d.path is None:
        return 0, 0
    s = d.path.stat()
    return s.st_size, s.st_mtime_ns


def _table_sha(table: pa.Table) -> str:
    h = hashlib.sha256()
    for batch in table.to_batches():
        for col in batch.columns:
            for buf in col.buffers():
                if buf is not None:
                    h.update(buf)
    return h.hexdigest()


class SourceRun:
    """One source's new deliveries through one run: prepare() reads and stages every delivery as
    text and standardises the distinct values of each field into a dictionary; after the night's
    suite has run over those values, finish() appends the rows that passed to history and records
    what happened.

    Rows are appended once, after every check: DuckDB rewrites appended row groups that lose rows
    before the commit, which cost more than all the checks together."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        cfg: CouncilConfig,
        source: str,
        contract: Contract,
        as_of: date,
        run_id: str,
        progress: Progress,
    ) -> None:
        self.con, self.cfg, self.source, self.contract = con, cfg, source, contract
        self.sc: SourceConfig = cfg.sources[source]
        self.as_of, self.run_id, self.progress = as_of, run_id, progress
        self.result = SourceResult(source, contract.critical, contract.version, contract.freshness_days)
        self.staged: list[DeliveryResult] = []
        self.table = history_table(source)
        self.staging = f"staged_{source}"
        self.dicts = {f.name: f"dict_{source}_{i}" for i, f in enumerate(contract.fields)}

    def _joined(self, fields: list[str]) -> tuple[str, str]:
        """Join clauses from staged rows (s) to the named fields' dictionaries, and the condition
        that every one of those values parsed."""
        joins, ok = [], []
        for i, name in enumerate(fields):
            n, d = sql.ident(name), self.dicts[name]
            joins.append(f"JOIN {d} d{i} ON d{i}.k = coalesce(s.{n}, '')")
            ok.append(f"d{i}.{sql.ident(name + '__bad')} IS NULL")
        return " ".join(joins), " AND ".join(ok)

    def values(self, c: Check) -> str:
        """The distinct values a check is run on: the field's dictionary, or for a pair the
        distinct pairs of this run's staged rows."""
        if c.bound is None:
            return self.dicts[c.field]
        fields = [c.field] + ([] if c.bound == "_delivered_on" else [c.bound.strip('"')])
        keys = ", ".join(f"coalesce({sql.ident(f)}, '') AS {sql.ident(f)}" for f in fields)
        extra = ", _delivered_on" if c.bound == "_delivered_on" else ""
        joins, ok = self._joined(fields)
        picked = ", ".join(f"d{i}.{sql.ident(f)}" for i, f in enumerate(fields))
        pairs = f"(SELECT DISTINCT {keys}{extra} FROM {self.staging})"
        return f"(SELECT {picked}{extra} FROM {pairs} s {joins} WHERE {ok})"

    def rows(self, c: Check) -> str:
        """This run's staged rows with the check's clean values and the text as sent (`<f>__sent`)."""
        fields = [c.field] + ([] if c.bound in (None, "_delivered_on") else [c.bound.strip('"')])
        joins, ok = self._joined(fields)
        picked = ", ".join(
            f"d{i}.{sql.ident(f)}, NULLIF(d{i}.k, '') AS {sql.ident(f + '__sent')}"
            for i, f in enumerate(fields)
        )
        return f"(SELECT s._file, s._row, s._delivered_on, {picked} FROM {self.staging} s {joins} WHERE {ok})"

    def prepare(self) -> None:
        con = self.con
        ensure_history(con, self.contract)
        known = con.execute(
            "SELECT name, sha256, size, mtime_ns, delivered_on, volume, status FROM deliveries "
            "WHERE source = ? AND status IN ('accepted', 'already_loaded') ORDER BY delivered_on, name",
            [self.source],
        ).fetchall()
        by_name = {r[0]: r for r in known}
        by_sha = {r[1]: r[0] for r in known if r[6] == "accepted"}
        last_volume = next((r[5] for r in reversed(known) if r[6] == "accepted"), None)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.staging} {self._stage_columns()}")
        for f in self.contract.fields:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self.dicts[f.name]} (k VARCHAR, {sql.ident(f.name)} "
                f"{SQL_TYPES[f.logical_type]}, {sql.ident(f.name + '__raw')} VARCHAR, "
                f"{sql.ident(f.name + '__bad')} VARCHAR)"
            )
        for d in discover(self.cfg, self.source, self.as_of):
            size, mtime = _file_facts(d)
            seen = by_name.get(d.name)
            if seen and d.path is not None and seen[2] == size and seen[3] == mtime:
                self.result.unchanged += 1
                continue
            self.progress(self.source, d.name)
            res = DeliveryResult(self.source, d.name, d.delivered_on, "accepted", size=size, mtime_ns=mtime)
            self.result.deliveries.append(res)
            try:
                raw = self._read(d, res, by_sha)
                if raw is None:
                    continue
                self._check_volume(res, raw, last_volume)
            except DeliveryStop as stop:
                res.status, res.rule, res.message = "stopped", stop.rule, stop.message
                res.rows_held = res.rows_read
                continue
            last_volume = res.volume
            by_sha[res.sha256] = res.name  # an identical file later in the same run is a no-op too
            self._stage(res, raw)
            del raw
            self.staged.append(res)
        self._standardise()

    def finish(self) -> SourceResult:
        con = self.con
        counts = dict(
            con.execute(
                "SELECT name, count(DISTINCT row) FROM q WHERE source = ? GROUP BY name", [self.source]
            ).fetchall()
        )
        for res in self.staged:
            n = counts.get(res.name, 0)
            res.rows_quarantined = n
            res.rules = dict(
                con.execute(
                    "SELECT CASE WHEN field = '' THEN rule ELSE field || ': ' || rule END AS r, count(*) "
                    "FROM q WHERE source = ? AND name = ? GROUP BY r ORDER BY count(*) DESC, r",
                    [self.source, res.name],
                ).fetchall()
            )
            if n >= MIN_REJECTS_TO_STOP and n > self.sc.max_rejected_share * res.rows_read:
                res.status, res.rule = "stopped", "too_many_rejects"
                res.message = (
                    f"{n} of {res.rows_read} rows ({n / res.rows_read:.1%}) broke the contract, "
                    f"more than the {self.sc.max_rejected_share:.0%} allowed; "
                    f"most often {next(iter(res.rules))}"
                )
                res.rows_held = res.rows_read - n
        self._append()
        for res in self.staged:
            if not res.conserved:  # a bug of ours, never a state to publish: the rows are held back
                res.status, res.rule = "stopped", "rows_not_conserved"
                res.message = (
                    f"{res.rows_read} rows read but {res.rows_accepted} accepted, {res.rows_quarantined} "
                    f"quarantined and {res.rows_held} held: a riskflag fault; please report it"
                )
                con.execute(
                    f"DELETE FROM {self.table} WHERE _run_id = ? AND _file = ?", [self.run_id, res.name]
                )
                res.rows_accepted, res.rows_held = 0, res.rows_read - res.rows_quarantined
        self._record()
        self._freshness()
        con.execute("; ".join(f"DROP TABLE IF EXISTS {t}" for t in [self.staging, *self.dicts.values()]))
        return self.result

    # --- one delivery ---------------------------------------------------------------------

    def _read(self, d: Delivery, res: DeliveryResult, by_sha: dict) -> readers.Raw | None:
        raw = None
        if d.path is None:
            raw = readers.read(d, self.sc)
            res.sha256 = _table_sha(raw.table)
            res.name = f"{d.name}@{d.delivered_on.isoformat()}"
        else:
            res.sha256 = d.sha256()
        same = by_sha.get(res.sha256)
        if same:
            res.status = "already_loaded"
            res.message = f"identical to {same}, accepted earlier: nothing to do"
            return None
        if raw is None:
            raw = readers.read(d, self.sc)
        res.rows_read = raw.rows_read
        res.notes += raw.notes
        res.notes += st.check_columns(
            [c for c in raw.table.column_names if c != readers.ROW],
            self.source,
            self.sc,
            {k: v for k, v in self.cfg.sources.items() if k != self.source},
            self.cfg.path.name,
        )
        if raw.rows_read == 0 and self.contract.delivery_kind == "full_snapshot":
            raise DeliveryStop(
                "no_rows", "the file has a header but no rows: a full snapshot cannot be empty"
            )
        return raw

    def _check_volume(self, res: DeliveryResult, raw: readers.Raw, last: float | None) -> None:
        """Compare with the last accepted delivery; a history extract of many monthly snapshots
        is measured per snapshot date, so it compares with a single month's snapshot."""
        snapshot = self.contract.delivery_kind == "full_snapshot"
        res.volume = float(res.rows_read)
        col = self.sc.columns.get(self.contract.known_date_field or "")
        if snapshot and col and res.rows_read:
            dates = pc.count_distinct(
                pc.drop_null(pc.if_else(pc.equal(raw.table[col], ""), None, raw.table[col]))
            )
            res.volume = res.rows_read / max(1, dates.as_py())
        bounds = self.sc.volume_bounds or (SNAPSHOT_BOUNDS if snapshot else None)
        if bounds is None or not last:
            return
        ratio = res.volume / last
        if not bounds[0] <= ratio <= bounds[1]:
            per = " per snapshot date" if snapshot and col else ""
            raise DeliveryStop(
                "volume_out_of_bounds",
                f"{res.volume:,.0f} rows{per} against {last:,.0f} in the last accepted delivery "
                f"({ratio:.0%}); expected {bounds[0]:.0%} to {bounds[1]:.0%}. Check the extract is complete",
            )

    def _stage_columns(self) -> str:
        # explicit columns: a table made by CREATE TABLE AS ... LIMIT 0 inside a transaction
        # reads back empty after a large Arrow insert (DuckDB 2.0; tested by test_large_delivery)
        cols = ", ".join(f"{sql.ident(f.name)} VARCHAR" for f in self.contract.fields)
        return f"({cols}, _row BIGINT, _file VARCHAR, _delivered_on DATE, _h UBIGINT)"

    def _stage(self, res: DeliveryResult, raw: readers.Raw) -> None:
        con = self.con
        if raw.rejects:
            con.executemany(
                "INSERT INTO q VALUES (?, ?, ?, ?, ?, ?)",
                [(self.source, res.name, r.row, r.field, r.rule, r.value) for r in raw.rejects],
            )
        # a relation over the table, not con.register(): a table registered inside a transaction
        # stays alive until the commit, so every source's whole history would stay in memory
        select = st.stage_select(self.sc.columns, self.contract, "delivery")
        dated = (
            f"SELECT *, {sql.string(res.name)} AS _file, {sql.day(res.delivered_on)} AS _delivered_on, "
            f"{st.row_hash(self.contract, res.name)} AS _h"
        )
        # in slices, each freed once staged, so that Arrow and DuckDB never both hold a large history
        batches, raw.table = raw.table.to_batches(), raw.table.slice(0, 0)
        while batches:
            part, rows = [], 0
            while batches and rows < STAGE_ROWS:
                part.append(batches.pop(0))
                rows += part[-1].num_rows
            rel = con.from_arrow(pa.Table.from_batches(part, schema=raw.table.schema))
            staged = rel.query("delivery", f"{dated} FROM ({select})")
            assert staged is not None  # a SELECT always gives a relation
            staged.insert_into(self.staging)
            del rel, staged, part
            pa.default_memory_pool().release_unused()

    def _standardise(self) -> None:
        """Each field's distinct texts into its dictionary; rows whose text did not map or parse,
        and rows that repeat an earlier row of their delivery, to the quarantine."""
        con = self.con
        for f in self.contract.fields:
            d, n, bad = self.dicts[f.name], sql.ident(f.name), sql.ident(f.name + "__bad")
            texts = f"(SELECT DISTINCT coalesce({n}, '') AS k FROM {self.staging})"
            con.execute(f"INSERT INTO {d} {st.dictionary_select(f, self.sc, texts)}")
            con.execute(
                f"INSERT INTO q SELECT ?, s._file, s._row, ?, b.{bad}, NULLIF(b.k, '') FROM {self.staging} s "
                f"JOIN (SELECT k, {bad} FROM {d} WHERE {bad} IS NOT NULL) b ON b.k = coalesce(s.{n}, '')",
                [self.source, f.name],
            )
        con.execute(
            "INSERT INTO q SELECT ?, _file, _row, '', 'duplicate_row', 'the same as row ' || first_row "
            f"FROM ({st.duplicates_select(self.contract, self.staging)})",
            [self.source],
        )

    def _append(self) -> None:
        """The accepted deliveries' rows that passed every check, with their clean values, into
        history, in one insert; an accepted file re-sent under the same name replaces its rows."""
        con, table = self.con, self.table
        accepted = [r.name for r in self.staged if r.status == "accepted"]
        if not accepted:
            return
        joins, _ = self._joined([f.name for f in self.contract.fields])
        cols = [
            f"d{i}.{sql.ident(f.name + x)}" for i, f in enumerate(self.contract.fields) for x in ("", "__raw")
        ]
        names = ", ".join(sql.ident(c) for c in history_columns(self.contract))
        con.execute(f"DELETE FROM {table} WHERE _file IN (SELECT unnest(?))", [accepted])
        con.execute(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(cols)}, s._file, s._row, s._delivered_on, ?, ? "
            f"FROM {self.staging} s {joins} WHERE s._file IN (SELECT unnest(?)) AND NOT EXISTS "
            "(SELECT 1 FROM q WHERE q.source = ? AND q.name = s._file AND q.row = s._row)",
            [self.as_of, self.run_id, accepted, self.source],
        )
        counts = dict(
            con.execute(
                f"SELECT _file, count(*) FROM {table} WHERE _run_id = ? GROUP BY _file", [self.run_id]
            ).fetchall()
        )
        for r in self.staged:
            if r.status == "accepted":
                r.rows_accepted = counts.get(r.name, 0)

    def _record(self) -> None:
        for r in self.result.deliveries:
            self.con.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self.run_id,
                    self.source,
                    r.name,
                    r.sha256,
                    r.size,
                    r.mtime_ns,
                    r.delivered_on,
                    r.status,
                    r.rule,
                    r.message,
                    r.rows_read,
                    r.rows_accepted,
                    r.rows_quarantined,
                    r.rows_held,
                    r.volume,
                ],
            )
        if any(r.rows_quarantined for r in self.result.deliveries):
            dated = ", ".join(f"({sql.string(r.name)}, {sql.day(r.delivered_on)})" for r in self.staged)
            self.con.execute(
                "INSERT INTO quarantine SELECT ?, q.source, q.name, s.delivered_on, q.row, q.field, q.rule, "
                f"q.value FROM q JOIN (VALUES {dated}) s(name, delivered_on) "
                "ON s.name = q.name WHERE q.source = ? ORDER BY q.name, q.row, q.field, q.rule",
                [self.run_id, self.source],
            )

    def _freshness(self) -> None:
        res = self.result
        latest = self.con.execute(
            "SELECT max(delivered_on) FROM deliveries WHERE source = ? "
            "AND status IN ('accepted', 'already_loaded') "
            "AND delivered_on <= ?",
            [self.source, self.as_of],
        ).fetchall()[0][0]
        res.latest = latest
        stopped = [d for d in res.deliveries if d.status == "stopped"]
        if stopped:
            res.status = "failed"
            res.message = f"{stopped[0].name}: {stopped[0].message}"
        elif latest is None:
            res.status, res.message = "failed", "no delivery has been accepted yet"
        elif (self.as_of - latest).days > self.contract.freshness_days:
            res.status = "failed"
            res.message = (
                f"stale: the newest accepted delivery is from {latest.isoformat()}, "
                f"{(self.as_of - latest).days} days before {self.as_of.isoformat()}; the contract allows "
                f"{self.contract.freshness_days}"
            )


def validate(
    con: duckdb.DuckDBPyConnection,
    cfg: CouncilConfig,
    as_of: date,
    run_id: str,
    progress: Progress | None = None,
    now: Callable[[], datetime] = datetime.now,
) -> RunResult:
    """Ingest every source's new deliveries up to as_of into the warehouse behind con, as one
    transaction: a run that fails part-way leaves the warehouse as it was."""
    sources = [s for s in SOURCE_NAMES if s in cfg.sources]
    contracts = {s: load_contract(s) for s in sources}
    for s in sources:
        check_mapping(cfg, s, contracts[s])
    run = RunResult(run_id, as_of, cfg.council.name, [], now())
    tell = progress or (lambda *_: None)
    con.execute("BEGIN")
    try:
        con.execute("INSERT INTO runs VALUES (?, ?, 'running', ?, NULL)", [run_id, as_of, run.started_at])
        con.execute(
            "CREATE OR REPLACE TEMP TABLE q (source VARCHAR, name VARCHAR, row BIGINT, field VARCHAR, "
            "rule VARCHAR, value VARCHAR)"
        )
        runs = [SourceRun(con, cfg, s, contracts[s], as_of, run_id, tell) for s in sources]
        preload()
        for r in runs:
            r.prepare()
        tell("contracts", "Great Expectations suite")
        expect(con, [r for r in runs if r.staged])
        for r in runs:
            run.sources.append(r.finish())
        run.finished_at = now()
        con.execute(
            "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
            [run.status, run.finished_at, run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return run


def expect(con: duckdb.DuckDBPyConnection, runs: list[SourceRun]) -> None:
    """The night's contracts as one GX suite over the distinct values of every staged source (a
    field's from its dictionary, a pair's from the staged rows), run in batches of like-length
    columns; each failing value's rows go to the quarantine."""
    builder = SuiteBuilder()
    by_source = {r.source: r for r in runs}
    for r in runs:
        builder.add_contract(r.contract, r.sc)
    groups = builder.finish()

    columns: dict[str, pa.ChunkedArray] = {}
    pad: dict[str, object] = {}
    for i, g in enumerate(groups):
        union = " UNION ALL ".join(member_select(g, c, by_source[c.source].values(c)) for c in g.members)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE vals_{i} AS "
            f"SELECT row_number() OVER () - 1 AS vid, * FROM ({union})"
        )
        found = con.sql(f"SELECT v, b FROM vals_{i} ORDER BY vid").to_arrow_table()
        columns[g.column] = found["v"]
        if g.kind == "ExpectColumnPairValuesAToBeGreaterThanB":
            columns[g.bound_column] = found["b"]
        if g.value == "present":
            pad[g.column] = PAD
    fails = run_suite("riskflag-contracts", groups, columns, pad)
    index = {g.name: i for i, g in enumerate(groups)}
    for name, part in fails.groupby("group", sort=True):
        i, g = index[name], groups[index[name]]
        con.register("gx_fails", part)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE bad AS "
            f"SELECT v.* FROM vals_{i} v JOIN gx_fails f ON f.{VID} = v.vid"
        )
        con.unregister("gx_fails")
        failing = set(con.execute("SELECT DISTINCT source, chk FROM bad").fetchall())
        for c in g.members:
            if (c.source, c.chk) not in failing:
                continue
            rule = g.rule or pair_rule(c)
            f = c.field
            sent = sql.ident(f + "__sent")
            if c.bound is None:
                shown = sent
            elif c.bound == "_delivered_on":
                shown = f"{sent} || ' is after the delivery date ' || strftime(_delivered_on, '%Y-%m-%d')"
            else:
                other = c.chk.split("|", 1)[1]
                shown = f"{sent} || ' is after {other} ' || {sql.ident(other + '__sent')}"
            con.execute(
                f"INSERT INTO q SELECT DISTINCT ?, x._file, x._row, ?, ?, x.shown FROM "
                f"(SELECT _file, _row, {c.value} AS v, {c.bound or 'NULL::DATE'} AS b, {shown} AS shown "
                f"FROM {by_source[c.source].rows(c)} WHERE {c.where}) x JOIN bad ON bad.source = ? "
                f"AND bad.chk = ? AND x.v IS NOT DISTINCT FROM bad.raw_v AND x.b IS NOT DISTINCT FROM bad.b",
                [c.source, f, rule, c.source, c.chk],
            )
    for i in range(len(groups)):
        con.execute(f"DROP TABLE IF EXISTS vals_{i}")
