"""What kind of link run tonight's is, and the record of each run in `link_runs`.

A run reuses the last run's links (incremental) only when nothing they depend on has changed
besides the records: the fingerprint says what else they depend on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from riskflag.config import CouncilConfig
from riskflag.ingest import table_exists
from riskflag.linkage import people
from riskflag.linkage.collect import MENTION_COLUMNS, nickname_list
from riskflag.linkage.pairs import FEATURES

RUN_COLUMNS = (
    "run_id VARCHAR, as_of DATE, mode VARCHAR, model VARCHAR, fingerprint VARCHAR, new_identities BIGINT, "
    "started_at TIMESTAMP, finished_at TIMESTAMP, delivered_upto DATE"
)
# what an incremental run builds on: without any of these, the run relinks everything
NEEDED = ("link_runs", "link_identities", "link_pairs", "link_persons", "link_mentions", "link_features")


@dataclass(frozen=True)
class RunMode:
    """ "full", or "incremental" with `after`: the last run's as-of date and the newest delivery
    it had (what it could see, so tonight reads only the rows it could not)."""

    mode: str
    after: tuple[date, date] | None = None

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"


FULL = RunMode("full")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of a run's tables or none: a run that fails part-way leaves the last run's links."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def fingerprint(con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, model: Path) -> str:
    """What a run's links depend on besides the records: the model, the nicknames, the extra
    localities, the gazetteer, and how identities are described and judged plausible (a new
    riskflag may change those). When it changes, earlier links cannot be reused."""
    h = hashlib.sha256(model.read_bytes())
    h.update((MENTION_COLUMNS + FEATURES + people.PLAUSIBLE).encode())
    h.update(nickname_list(cfg).read_bytes())
    h.update("|".join(cfg.linkage.extra_localities).encode())
    llpg = con.execute(
        "SELECT sha256 FROM deliveries WHERE source = 'llpg' AND status = 'accepted' "
        "ORDER BY delivered_on DESC, name DESC LIMIT 1"
    ).fetchall()
    h.update((llpg[0][0] if llpg else "").encode())
    return h.hexdigest()


def newest_delivery(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest delivery the warehouse holds: with the as-of date, what a run could see."""
    found: date | None = con.execute(
        "SELECT max(delivered_on) FROM deliveries WHERE status = 'accepted'"
    ).fetchall()[0][0]
    return found


def choose_mode(
    con: duckdb.DuckDBPyConnection,
    cfg: CouncilConfig,
    fingerprint: str,
    as_of: date,
    full: bool,
    relink_days: int | None = None,
) -> RunMode:
    """Incremental when the last run had the same fingerprint, on an earlier or the same date,
    no delivery it could have used arrived after it, and the last full relink is recent enough
    (relink_days, by default the configuration's); full otherwise."""
    if full or not all(table_exists(con, t) for t in NEEDED):
        return FULL
    add_run_columns(con)
    last = con.execute(
        "SELECT fingerprint, as_of, finished_at, delivered_upto FROM link_runs "
        "ORDER BY finished_at DESC LIMIT 1"
    ).fetchall()
    last_full = con.execute("SELECT max(as_of) FROM link_runs WHERE mode = 'full'").fetchall()[0][0]
    if not last or last[0][0] != fingerprint or last[0][1] > as_of or last_full is None or last[0][3] is None:
        return FULL
    if (as_of - last_full).days > (cfg.linkage.full_relink_days if relink_days is None else relink_days):
        return FULL
    late = con.execute(
        "SELECT count(*) FROM deliveries d JOIN runs r USING (run_id) WHERE d.status = 'accepted' "
        "AND d.delivered_on <= ? AND r.finished_at > ?",
        [last[0][3], last[0][2]],
    ).fetchall()[0][0]
    return FULL if late else RunMode("incremental", (last[0][1], last[0][3]))


def add_run_columns(con: duckdb.DuckDBPyConnection) -> None:
    """link_runs as this version writes it (warehouses linked by earlier versions lack
    delivered_upto: their last run is taken as unknown, so the next is a full relink)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS link_runs ({RUN_COLUMNS})")
    con.execute("ALTER TABLE link_runs ADD COLUMN IF NOT EXISTS delivered_upto DATE")


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    as_of: date
    mode: str
    model: Path
    fingerprint: str
    new_identities: int
    started_at: datetime
    finished_at: datetime
    delivered_upto: date | None


def record_run(con: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
    """The run in link_runs, which the next run's `choose_mode` reads."""
    add_run_columns(con)
    con.execute(
        "INSERT INTO link_runs BY NAME SELECT ? AS run_id, ? AS as_of, ? AS mode, ? AS model, "
        "? AS fingerprint, ? AS new_identities, ? AS started_at, ? AS finished_at, ? AS delivered_upto",
        [
            run.run_id, run.as_of, run.mode, str(run.model), run.fingerprint, run.new_identities,
            run.started_at, run.finished_at, run.delivered_upto,
        ],
    )  # fmt: skip
