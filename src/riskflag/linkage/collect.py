"""Collecting the people every source names: link_addresses, link_mentions and link_identities
from the rows the council knew by the as-of date (mentions.py says what a mention is).

A run reads by known date rather than delivery, so that a replay links the history delivered
at go-live as the council knew it at each earlier date; an incremental run reads only the rows
the last run could not see and merges them into its tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from riskflag.config import CouncilConfig
from riskflag.contracts import load_contract
from riskflag.core import sql
from riskflag.errors import UserError
from riskflag.ingest import known, known_at_sql, table_exists
from riskflag.linkage import mentions as men
from riskflag.linkage.addresses import match_addresses

MENTION_COLUMNS = (
    "source, record, slot, identity_id, uprn, first_seen, last_seen, records, since, until, died, "
    "first_known, lived_first, lived_last, alone_first, alone_known"
)


@dataclass(frozen=True)
class Batch:
    """Tonight's rows as mentions, in TEMP tables: `raw` as the sources name people, `mentions`
    normalised, with their UPRN and identity id. Dropped once merged."""

    raw: str
    mentions: str


def nickname_list(cfg: CouncilConfig) -> Path:
    """The council's own list when its config names one, else the list riskflag ships (the config
    resolves which)."""
    return cfg.linkage.nicknames_path(cfg)


def gazetteer(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    """The gazetteer as delivered by as_of, or the first one delivered when as_of is earlier (a
    replay of the history before go-live): reference data, taken as it stands."""
    if not table_exists(con, "history_llpg"):
        raise UserError("the warehouse has no gazetteer (llpg): run `riskflag validate` first")
    first = con.execute("SELECT min(_delivered_on) FROM history_llpg").fetchall()[0][0]
    if first is None:
        raise UserError("the warehouse's gazetteer (llpg) is empty: run `riskflag validate` first")
    return known_at_sql(load_contract("llpg"), max(as_of, first))


def visible(source: str, as_of: date, after: tuple[date, date] | None = None) -> str:
    """SQL: the rows of a source the council knew by as_of (its known date; never later than
    riskflag received them, so on a nightly run every row delivered by then). With `after` (the
    last run's as-of date and the newest delivery it had), only the rows that run could not see:
    known since it, or delivered since it."""
    k = known(source)
    window = f"{k} <= {sql.day(as_of)}"
    if after is not None:
        last, delivered = after
        window += f" AND ({k} > {sql.day(last)} OR _delivered_on > {sql.day(delivered)})"
        # implied by the line above (a row is never known after it was delivered), but on the
        # column alone, so that DuckDB skips the row groups of earlier deliveries unread
        window += f" AND _delivered_on > {sql.day(min(last, delivered))}"
    return window


def has_source(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    return table_exists(con, f"history_{source}")


def build_mentions(
    con: duckdb.DuckDBPyConnection,
    cfg: CouncilConfig,
    as_of: date,
    after: tuple[date, date] | None = None,
) -> dict[str, int]:
    """link_addresses, link_mentions and link_identities from every row the council knew by
    as_of; with `after` (see `visible`), only the rows the last run could not see are read and
    merged into its tables."""
    llpg = gazetteer(con, as_of)
    raw = _read_raw(con, as_of, after)
    _match_addresses(con, cfg, raw, llpg, as_of, after)
    batch = _normalise(con, cfg, raw, llpg)
    _merge_mentions(con, batch, after)
    _merge_identities(con, batch, after)
    con.execute(f"DROP TABLE {sql.ident(batch.raw)}; DROP TABLE {sql.ident(batch.mentions)}")
    (mentions, records, identities, matched, addresses_n) = con.execute(
        "SELECT (SELECT count(*) FROM link_mentions), (SELECT sum(records) FROM link_mentions), "
        "(SELECT count(*) FROM link_identities), "
        "(SELECT count(uprn) FROM link_addresses), (SELECT count(*) FROM link_addresses)"
    ).fetchall()[0]
    return {
        "mentions": mentions,
        "mention_rows": int(records or 0),
        "identities": identities,
        "addresses": addresses_n,
        "addresses_matched": matched,
    }


def _read_raw(con: duckdb.DuckDBPyConnection, as_of: date, after: tuple[date, date] | None) -> str:
    """TEMP table of every source's rows in view as raw mentions; returns its name."""
    rows = {
        s: f"SELECT * FROM history_{s} WHERE {visible(s, as_of, after)}"
        for s in men.SOURCES
        if has_source(con, s)
    }
    parts = [men.raw_mentions_select(s, men.SOURCES[s], q, known(s)) for s, q in rows.items()]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS {' UNION ALL '.join(parts)}")
    return "_raw"


def _match_addresses(
    con: duckdb.DuckDBPyConnection,
    cfg: CouncilConfig,
    raw: str,
    llpg: str,
    as_of: date,
    after: tuple[date, date] | None,
) -> None:
    """link_addresses: every address in view (on an incremental run, those it lacks added)."""
    addresses = f"SELECT address, postcode FROM {sql.ident(raw)}"
    if has_source(con, "asb_incidents"):
        addresses += (
            " UNION ALL SELECT address, postcode FROM history_asb_incidents "
            f"WHERE {visible('asb_incidents', as_of, after)}"
        )
    if after is None:
        match_addresses(con, addresses, llpg, "link_addresses", cfg.linkage.extra_localities)
    else:
        fresh = f"SELECT * FROM ({addresses}) a ANTI JOIN link_addresses l USING (address, postcode)"
        match_addresses(con, fresh, llpg, "_new_addresses", cfg.linkage.extra_localities)
        con.execute("INSERT INTO link_addresses SELECT * FROM _new_addresses; DROP TABLE _new_addresses")


def _normalise(con: duckdb.DuckDBPyConnection, cfg: CouncilConfig, raw: str, llpg: str) -> Batch:
    """Tonight's mentions with their names normalised, nicknames resolved, UPRNs and identity
    ids, from the raw mentions and link_addresses."""
    nick = nickname_list(cfg)
    if not nick.is_file():
        raise UserError(f"{nick}: no such nicknames file (linkage.nicknames in {cfg.path})")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _nick AS SELECT upper(trim(nickname)) AS nickname, "
        f"upper(trim(usual)) AS usual FROM read_csv({sql.path(nick)}, header = true, all_varchar = true)"
    )
    uprns = f"SELECT DISTINCT CAST(uprn AS VARCHAR) AS uprn FROM ({llpg})"
    select = men.mentions_select(sql.ident(raw), "_nick", "link_addresses", uprns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _m AS SELECT *, {men.identity_id()} AS identity_id FROM ({select}) "
        "WHERE forename IS NOT NULL OR surname IS NOT NULL"
    )
    con.execute("DROP TABLE _nick")
    return Batch(raw=raw, mentions="_m")


def _merge_mentions(con: duckdb.DuckDBPyConnection, batch: Batch, after: tuple[date, date] | None) -> None:
    """link_mentions: tonight's mentions, with the last run's on an incremental run (their
    aggregates merge)."""
    table = sql.ident(batch.mentions)
    if after is not None and not con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:
        return  # nothing new: the last run's stand
    new = f"SELECT {MENTION_COLUMNS} FROM {table}"
    merged = new if after is None else f"SELECT {MENTION_COLUMNS} FROM link_mentions UNION ALL {new}"
    con.execute(f"""
        CREATE OR REPLACE TABLE link_mentions AS
        SELECT source, record, slot, identity_id, uprn, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen, sum(records)::BIGINT AS records, min(since) AS since,
               arg_max(until, last_seen) AS until, min(died) AS died, min(first_known) AS first_known,
               min(lived_first) AS lived_first, max(lived_last) AS lived_last,
               min(alone_first) AS alone_first, min(alone_known) AS alone_known
        FROM ({merged}) GROUP BY source, record, slot, identity_id, uprn
    """)


def _merge_identities(con: duckdb.DuckDBPyConnection, batch: Batch, after: tuple[date, date] | None) -> None:
    """link_identities: the distinct identifying values of the mentions (new ones added)."""
    cols = ", ".join(men.IDENTITY)
    fresh = (
        f"SELECT DISTINCT identity_id, {cols}, forename_canon || ' ' || surname AS full_name "
        f"FROM {sql.ident(batch.mentions)}"
    )
    if after is None:
        con.execute(f"CREATE OR REPLACE TABLE link_identities AS {fresh} ORDER BY identity_id")
    else:
        con.execute(
            f"INSERT INTO link_identities SELECT * FROM ({fresh}) "
            "ANTI JOIN link_identities USING (identity_id)"
        )
