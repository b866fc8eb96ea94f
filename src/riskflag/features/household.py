"""Household features, cohorts and labels at as-of dates, from the warehouse's history and the
linkage. All of it SQL run by DuckDB, over tables the earlier stages wrote.

Time discipline: a feature at as-of date t uses only rows the council knew by t (`known`: the
date the source system recorded them, its contract's known-date field, and never later than the
day riskflag received them), and of a record that later deliveries changed (a case that closed)
only the version current at t. A history extract delivered at go-live therefore still gives
features at earlier dates: its rows say when the council knew them. Reference data (the
gazetteer, deprivation) is taken as it now stands. Labels look forward from t and use
everything. Equality fields (sex,
ethnicity, disability, age) are never features; a member's date of birth is used only to count
the children in a household.

The unit is the household at t: the people living at one UPRN, as the linkage stood at t (the
linkage history, see linkage/history.py; a date before the history begins falls back on today's
linkage, which knows later records, and `linked_at` says which dates did). The
cohort is every household in the council-tax base (an open account at its UPRN in the snapshot
known at t), less households with an open homelessness case, in temporary accommodation, or with
a member or household reference under an upheld objection.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from riskflag.contracts import load_contract
from riskflag.core import sql
from riskflag.errors import UserError
from riskflag.ingest import known, table_exists, term_start
from riskflag.linkage import history

STAGES = ("none", "reminder", "final_notice", "summons", "liability_order", "enforcement_agent")
FAR = "DATE '9999-12-31'"

# the features, in the order the model sees them; each is documented where it is computed
FEATURES: tuple[str, ...] = (
    "members", "children", "adults", "single_adult_with_children", "lives_alone",
    "members_change_6m", "moved_in_12m", "not_on_council_tax",
    "ct_arrears", "ct_arrears_1m", "ct_arrears_3m", "ct_arrears_6m", "ct_arrears_12m",
    "ct_arrears_change_3m", "ct_arrears_max_12m", "ct_months_in_arrears_12m",
    "ct_stage", "ct_stage_max_12m", "ct_single_person_discount", "ct_discount_started_6m",
    "ct_reduction_weekly",
    "social_tenancy", "introductory_tenancy", "rent_arrears", "rent_arrears_weeks",
    "rent_arrears_change_3m", "rent_arrears_weeks_max_12m", "nosp_12m", "possession_order_12m",
    "eviction_date_set", "days_since_nosp", "possession_stage",
    "housing_benefit_weekly", "universal_credit", "claim_live", "live_claims", "benefit_cap_12m",
    "benefit_cap_3m",
    "suspension_12m", "non_dependant_deduction_12m", "overpayment_12m", "claim_ended_3m",
    "days_since_benefit_event", "private_renter_on_hb",
    "prior_approaches", "days_since_approach",
    "advice_3m", "advice_6m", "advice_notice_6m", "advice_family_6m",
    "referrals_12m", "open_referral", "child_protection_12m", "days_since_referral",
    "open_care_episode", "care_mental_health_or_substance",
    "asb_12m", "asb_perpetrator_12m", "asb_victim_12m", "asb_domestic_12m",
    "persistent_absence", "suspensions_12m", "exclusion_12m", "free_school_meals",
    "bereavement_12m", "imd_decile", "services_12m",
)  # fmt: skip


def _days(a: str, b: str) -> str:
    return f"datediff('day', {a}, {b})"


_builds = itertools.count(1)
VERSIONED = ("homelessness_cases", "childrens_services", "adult_social_care", "objections")


def _prefix(kind: str) -> str:
    """A name space no other build on the connection uses (TEMP relations are per connection)."""
    return f"_{kind}{next(_builds)}_"


@dataclass(frozen=True)
class Linkage:
    """The linkage as it stood at each as-of date (TEMP VIEWs): `persons` (as_of, identity_id,
    person_id), `members` (as_of, household_id, person_id, uprn, valid_from, valid_to,
    known_from, end_known: the household members table) and `final` (as_of, person_id,
    final_id: the person each one's identities belong to in today's linkage, for labels, which
    look forward and use everything); `linked_at` (as_of, point_in_time): which dates read the
    linkage history and which today's linkage."""

    linked_at: str
    persons: str
    members: str
    final: str

    def point_in_time(self, con: duckdb.DuckDBPyConnection) -> set[date]:
        """The dates whose households come from the linkage as it stood then."""
        rows = con.execute(f"SELECT as_of FROM {self.linked_at} WHERE point_in_time").fetchall()
        return {r[0] for r in rows}


@dataclass(frozen=True)
class FeatureSet:
    """What one `build` made in the connection, each relation named for this build alone, so
    that the stages after it (evidence, suppressions, fairness, training) read them by what
    they are, not by an agreed name. `table`: one row per household in the cohort at each as-of
    date with the features (FEATURES) and, given a horizon, `label` and `censored`; `as_of`
    (as_of); `members` (as_of, household_id, person_id, uprn, valid_from): who lived where as the
    council could know it then; `members_final` (as_of, person_id, final_id); `person_dob`
    (as_of, person_id, dob); `records` (as_of, household_id, source, record): the records
    naming a member known by the date; `snapshots` (as_of, snapshot): the newest council-tax
    snapshot known at each date; `cohort` (as_of, household_id, uprn) and `cohort_excluded`
    (as_of, household_id, reason); `versions`: per current-state source the council sends, the
    relation of every version of its records (see `versions`)."""

    prefix: str
    dates: tuple[date, ...]
    horizon_days: int | None
    linkage: Linkage
    table: str
    as_of: str
    members: str
    members_final: str
    person_dob: str
    records: str
    snapshots: str
    cohort: str
    cohort_excluded: str
    versions: tuple[tuple[str, str], ...]

    def version(self, source: str) -> str:
        """The versions relation of `source` (a KeyError if the council does not send it)."""
        return dict(self.versions)[source]

    def name(self, what: str) -> str:
        """A relation name in this build's name space, for a later stage's own tables."""
        return f"{self.prefix}{what}"

    def frame(
        self, con: duckdb.DuckDBPyConnection, where: str | None = None, order: str = "as_of, household_id"
    ) -> pd.DataFrame:
        """The feature table (rows matching `where`, SQL over its columns) as a data frame."""
        sql = f"SELECT * FROM {self.table}" + (f" WHERE {where}" if where else "") + f" ORDER BY {order}"
        return con.execute(sql).df()

    def excluded_counts(self, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """Households left out of the cohort, by reason."""
        rows = con.execute(f"SELECT reason, count(*) FROM {self.cohort_excluded} GROUP BY 1 ORDER BY 1")
        return dict(rows.fetchall())


def versions(source: str) -> str:
    """Every version of a source's records with when the council knew it (known_from) and when a
    later version replaced it (known_until; NULL while it is the latest)."""
    c = load_contract(source)
    key = ", ".join(sql.ident(k) for k in c.key) or "_file, _row"
    return (
        f"SELECT *, lead(known_from) OVER (PARTITION BY {key} "
        "ORDER BY known_from, _delivered_on, _file, _row) "
        f"AS known_until FROM (SELECT *, {known(source)} AS known_from FROM history_{source})"
    )


def current_version(alias: str = "v") -> str:
    """SQL condition: the version of a record (of a `versions` relation) current at a.as_of."""
    return f"{alias}.known_from <= a.as_of AND ({alias}.known_until IS NULL OR {alias}.known_until > a.as_of)"


def has_source(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """Whether the warehouse holds any history of `source` (a council may not send it)."""
    return table_exists(con, f"history_{source}")


def build(
    con: duckdb.DuckDBPyConnection,
    as_of: Sequence[date],
    horizon_days: int | None = None,
) -> FeatureSet:
    """One row per household in the cohort at each as-of date, with the features (FEATURES)
    and, given a horizon, the label and whether it is censored; in TEMP relations of the
    connection that the returned FeatureSet names."""
    for needed in ("link_household_members", "link_person_xref", "history_council_tax", "history_llpg"):
        if not table_exists(con, needed):
            raise UserError(
                f"the warehouse has no {needed}: run `riskflag validate` and `riskflag link run` first"
            )
    p = _prefix("fs")
    fs = FeatureSet(
        prefix=p,
        dates=tuple(sorted(set(as_of))),
        horizon_days=horizon_days,
        linkage=linkage_at(con, as_of, p),
        table=f"{p}features",
        **{k: f"{p}{k}" for k in ("as_of", "members", "members_final", "person_dob", "records")},
        snapshots=f"{p}snap",
        cohort=f"{p}cohort",
        cohort_excluded=f"{p}cohort_excluded",
        versions=tuple((s, f"{p}v_{s}") for s in VERSIONED if has_source(con, s)),
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {fs.as_of} AS {sql.dates_table(fs.dates)}")
    for source, relation in fs.versions:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {relation} AS {versions(source)}")
    _members(con, fs)
    _cohort(con, fs)
    parts = [
        _composition(con, fs),
        _council_tax(con, fs),
        _rent(con, fs),
        _benefits(con, fs),
        _cases(con, fs),
        _children(con, fs),
        _care(con, fs),
        _asb(con, fs),
        _education(con, fs),
        _bereavement(con, fs),
        area := _area(con, fs),
    ]
    _assemble(con, fs, [p for p in parts if p], area is not None)
    return fs


def _assemble(con: duckdb.DuckDBPyConnection, fs: FeatureSet, parts: list[str], area: bool) -> None:
    """The feature table from the per-source parts (their tables then dropped), with labels
    given a horizon."""
    joins = " ".join(f"LEFT JOIN {p} USING (as_of, household_id)" for p in parts)
    derived = {
        "private_renter_on_hb": (
            "(coalesce(housing_benefit_weekly, 0) > 0 AND coalesce(social_tenancy, 0) = 0)"
        ),
        "imd_decile": "imd_decile",  # unknown stays unknown
    }
    cols = ", ".join(
        f"({derived[f]})::DOUBLE AS {f}" if f in derived else f"coalesce({f}, 0)::DOUBLE AS {f}"
        for f in FEATURES
        if f != "services_12m"
    )
    active = " + ".join(
        f"(coalesce({f}, 0) > 0)::INTEGER"
        for f in ("ct_arrears", "rent_arrears", "benefit_cap_12m", "suspension_12m", "referrals_12m",
                  "open_care_episode", "asb_12m", "suspensions_12m", "prior_approaches")
    )  # fmt: skip
    feat = fs.name("feat")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {feat} AS
        SELECT c.as_of, c.household_id, c.uprn, {"ward" if area else "NULL::VARCHAR AS ward"}, {cols},
               ({active})::DOUBLE AS services_12m
        FROM {fs.cohort} c {joins}
    """)
    if fs.horizon_days is not None:
        _labels(con, fs, fs.horizon_days)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {fs.table} AS
            SELECT f.*, l.label, l.censored FROM {feat} f JOIN {fs.name("labels")} l
                USING (as_of, household_id)
            ORDER BY as_of, household_id
        """)
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {fs.table} AS SELECT * FROM {feat} ORDER BY as_of, household_id"
        )
    for t in (feat, *parts, fs.name("ct"), fs.name("base"), fs.name("labels")):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def linkage_at(con: duckdb.DuckDBPyConnection, as_of: Sequence[date], prefix: str | None = None) -> Linkage:
    """TEMP VIEWs of the linkage as it stood at each date (see Linkage). A date the linkage
    history covers (history.linked_at_sql) reads the last run on or before it; any other reads
    today's linkage."""
    p = prefix or _prefix("lk")
    lk = Linkage(linked_at=f"{p}linked_at", persons=f"{p}lp", members=f"{p}hm", final=f"{p}final")
    linked = history.linked_at_sql(con, sql.dates_table(as_of))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {lk.linked_at} AS {linked}")
    recorded = table_exists(con, "link_history_persons")
    linked = "h.linked_from <= a.as_of AND (h.linked_until IS NULL OR h.linked_until > a.as_of)"
    for view, (history_table, current, cols) in {
        lk.persons: ("link_history_persons", "link_persons", history.PERSONS),
        lk.members: ("link_history_members", "link_household_members", history.MEMBERS),
    }.items():
        names = ", ".join(f"h.{c}" for c in cols)
        q = f"SELECT a.as_of, {names} FROM {lk.linked_at} a CROSS JOIN {current} h WHERE NOT a.point_in_time"
        if recorded:
            q += (
                f" UNION ALL SELECT a.as_of, {names} FROM {lk.linked_at} a JOIN {history_table} h ON {linked}"
                " WHERE a.point_in_time"
            )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {q}")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {lk.final} AS
        SELECT DISTINCT l.as_of, l.person_id, p.person_id AS final_id
        FROM {lk.persons} l JOIN link_persons p USING (identity_id)
    """)
    return lk


def _members(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> None:
    """fs.members: who lived where at each date as the council could know it then: a stay it
    had no record of yet is left out, and a stay whose end it learnt of only later is still
    counted; fs.members_final: each member's people in today's linkage (see `linkage_at`);
    fs.person_dob: dates of birth on the records known by each date; fs.records: the records
    naming a member, known by the date.

    The people known to live at one property at a date are one household, under the id of the
    household its latest arrival joined: someone whose leaving the council learnt of only later
    was, as far as it knew then, still living with those who came after."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.members} AS
        SELECT as_of, first_value(household_id) OVER (
                   PARTITION BY as_of, uprn ORDER BY valid_from DESC, household_id DESC
               ) AS household_id, person_id, uprn, valid_from
        FROM (
            SELECT a.as_of, m.household_id, m.person_id, m.uprn, m.valid_from
            FROM {fs.as_of} a JOIN {fs.linkage.members} m
              ON m.as_of = a.as_of AND m.valid_from <= a.as_of
             AND coalesce(m.known_from, m.valid_from) <= a.as_of
             AND (m.valid_to IS NULL OR m.valid_to > a.as_of OR coalesce(m.end_known, m.valid_to) > a.as_of)
            QUALIFY row_number() OVER (PARTITION BY a.as_of, m.person_id
                                       ORDER BY m.valid_from DESC, m.uprn) = 1
        )
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.person_dob} AS
        WITH known_ids AS (SELECT identity_id, min(first_known) AS known FROM link_mentions GROUP BY 1)
        SELECT as_of, person_id, dob FROM (
            SELECT a.as_of, p.person_id, TRY_CAST(i.dob AS DATE) AS dob, count(*) AS n
            FROM {fs.as_of} a JOIN known_ids k ON k.known <= a.as_of
            JOIN {fs.linkage.persons} p ON p.as_of = a.as_of AND p.identity_id = k.identity_id
            JOIN link_identities i ON i.identity_id = k.identity_id
            WHERE i.dob IS NOT NULL GROUP BY ALL
        ) QUALIFY row_number() OVER (PARTITION BY as_of, person_id ORDER BY n DESC, dob) = 1
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.members_final} AS
        SELECT DISTINCT m.as_of, m.person_id, p.person_id AS final_id
        FROM (SELECT DISTINCT as_of, person_id FROM {fs.members}) m JOIN {fs.linkage.persons} l
            USING (as_of, person_id)
        JOIN link_persons p ON p.identity_id = l.identity_id
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.records} AS
        SELECT DISTINCT m.as_of, m.household_id, x.source, x.record
        FROM {fs.members} m JOIN {fs.linkage.persons} p USING (as_of, person_id)
        JOIN link_mentions x ON x.identity_id = p.identity_id AND x.first_known <= m.as_of
    """)


def _cohort(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> None:
    """fs.snapshots: the newest council-tax snapshot known at each date; fs.cohort: the
    households in the council-tax base, less those an open homelessness case, temporary
    accommodation or an upheld objection exclude (fs.cohort_excluded: which, and why, for the
    nightly run's counts)."""
    stage = " ".join(f"WHEN {sql.string(s)} THEN {i}" for i, s in enumerate(STAGES))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}ct AS
        WITH v AS (
            SELECT *, {known("council_tax")} AS k FROM history_council_tax
            QUALIFY row_number() OVER (PARTITION BY account_ref, balance_date
                                       ORDER BY _delivered_on DESC, _file DESC, _row DESC) = 1
        )
        SELECT uprn, balance_date, max(k) AS known_on, sum(arrears) AS arrears,
               max(CASE recovery_stage {stage} END) AS stage,
               bool_or(single_person_discount) AS spd, sum(coalesce(ctr_weekly, 0)) AS ctr,
               bool_or(account_end IS NULL OR account_end > balance_date) AS open_account
        FROM v GROUP BY uprn, balance_date
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.snapshots} AS
        SELECT a.as_of, max(c.balance_date) AS snapshot FROM {fs.as_of} a
        JOIN (SELECT DISTINCT balance_date, known_on FROM {fs.prefix}ct) c ON c.known_on <= a.as_of
            AND c.balance_date <= a.as_of
        GROUP BY a.as_of
    """)
    excluded = [
        "SELECT NULL::DATE AS as_of, NULL::VARCHAR AS household_id, NULL::VARCHAR AS reason WHERE false"
    ]
    if has_source(con, "homelessness_cases"):
        excluded.append(f"""
            SELECT DISTINCT a.as_of, r.household_id, 'open homelessness case' AS reason FROM {fs.as_of} a
            JOIN {fs.records} r ON r.as_of = a.as_of AND r.source = 'homelessness_cases'
            JOIN {fs.version("homelessness_cases")} v ON CAST(v.case_ref AS VARCHAR) = r.record
                AND {current_version()}
            WHERE v.approach_date <= a.as_of AND (v.close_date IS NULL OR v.close_date > a.as_of)
              AND coalesce(v.outcome, 'open') = 'open'
        """)
    if has_source(con, "rent_accounts"):
        excluded.append(f"""
            SELECT DISTINCT m.as_of, m.household_id, 'in temporary accommodation' AS reason
                FROM {fs.members} m
            JOIN history_rent_accounts r ON r.uprn = m.uprn AND {known("rent_accounts", "r")} <= m.as_of
              AND r.snapshot_date <= m.as_of AND r.snapshot_date > m.as_of - INTERVAL 40 DAY
            WHERE r.tenancy_type = 'temporary_accommodation'
              AND (r.tenancy_end IS NULL OR r.tenancy_end > m.as_of)
        """)
    if has_source(con, "objections"):
        excluded.append(f"""
            SELECT DISTINCT r.as_of, r.household_id, 'upheld objection' AS reason FROM {fs.records} r
            JOIN {fs.as_of} a USING (as_of)
            JOIN {fs.version("objections")} v ON r.source = 'objections'
                AND CAST(v.objection_ref AS VARCHAR) = r.record
              AND {current_version()} WHERE v.status = 'upheld'
            UNION
            SELECT DISTINCT a.as_of, v.household_ref, 'upheld objection' FROM {fs.as_of} a
            JOIN {fs.version("objections")} v ON {current_version()} WHERE v.status = 'upheld'
                AND v.household_ref IS NOT NULL
        """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}base AS
        SELECT DISTINCT m.as_of, m.household_id, m.uprn
        FROM {fs.members} m JOIN {fs.snapshots} s USING (as_of)
        JOIN {fs.prefix}ct c ON c.uprn = m.uprn AND c.balance_date = s.snapshot AND c.known_on <= m.as_of
            AND c.open_account
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.cohort_excluded} AS
        SELECT as_of, household_id, arg_min(reason, CASE reason WHEN 'upheld objection' THEN 0
            WHEN 'open homelessness case' THEN 1 ELSE 2 END) AS reason FROM ({" UNION ".join(excluded)}) x
        SEMI JOIN {fs.prefix}base USING (as_of, household_id) GROUP BY ALL
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.cohort} AS
        SELECT * FROM {fs.prefix}base ANTI JOIN {fs.cohort_excluded} USING (as_of, household_id)
    """)


def _composition(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str:
    """How many people live in the household, how many are children (under 18 by a date of
    birth on record), whether one adult lives alone or alone with children; how the number of
    people at the property has changed over 6 months (someone left, someone arrived), whether
    the household moved in within the year, and how many members no council-tax account at the
    property names (people staying with the account holders)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_composition AS
        WITH base AS (
            SELECT as_of, household_id, any_value(uprn) AS uprn, count(*) AS members,
                   count(*) FILTER (WHERE d.dob > as_of - INTERVAL 18 YEAR) AS children
            FROM {fs.members} m LEFT JOIN {fs.person_dob} d USING (as_of, person_id)
            SEMI JOIN {fs.cohort} USING (as_of, household_id) GROUP BY ALL
        ),
        before AS (
            SELECT b.as_of, b.household_id, count(h.person_id) AS members_then FROM base b
            LEFT JOIN {fs.linkage.members} h ON h.as_of = b.as_of AND h.uprn = b.uprn
              AND h.valid_from <= b.as_of - INTERVAL 182 DAY AND coalesce(h.known_from,
                  h.valid_from) <= b.as_of
              AND (h.valid_to IS NULL OR h.valid_to > b.as_of - INTERVAL 182 DAY
                   OR coalesce(h.end_known, h.valid_to) > b.as_of)
            GROUP BY ALL
        ),
        began AS (SELECT as_of, household_id, min(valid_from) AS valid_from FROM {fs.members} GROUP BY ALL),
        named AS (
            SELECT DISTINCT m.as_of, m.household_id, m.person_id FROM {fs.members} m
            JOIN {fs.linkage.persons} p ON p.as_of = m.as_of AND p.person_id = m.person_id
            JOIN link_mentions c ON c.identity_id = p.identity_id AND c.source = 'council_tax'
                AND c.uprn = m.uprn
              AND c.first_seen <= m.as_of AND c.last_seen >= m.as_of - INTERVAL 62 DAY
        ),
        unnamed AS (
            SELECT m.as_of, m.household_id, count(*) AS not_on_council_tax FROM {fs.members} m
            ANTI JOIN named USING (as_of, household_id, person_id) GROUP BY ALL
        )
        SELECT b.as_of, b.household_id, b.members, b.children, b.members - b.children AS adults,
               (b.members - b.children = 1 AND b.children > 0)::INTEGER AS single_adult_with_children,
               (b.members = 1)::INTEGER AS lives_alone,
               b.members - coalesce(p.members_then, 0) AS members_change_6m,
               (g.valid_from > b.as_of - INTERVAL 365 DAY)::INTEGER AS moved_in_12m,
               coalesce(u.not_on_council_tax, 0) AS not_on_council_tax
        FROM base b LEFT JOIN before p USING (as_of, household_id) LEFT JOIN began g USING (as_of,
            household_id)
        LEFT JOIN unnamed u USING (as_of, household_id)
    """)
    return f"{fs.prefix}f_composition"


def _council_tax(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str:
    """The property's council-tax arrears now and 1, 3, 6 and 12 months ago, their change and
    peak, how many of the last 12 month-end snapshots showed arrears, the recovery stage reached
    (0 none to 5 enforcement agent) now and at worst, single person discount (and whether it
    started in the last 6 months) and council tax reduction. A snapshot counts from the day the
    council knew its latest version (a snapshot re-sent later counts from then)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_council_tax AS
        WITH s AS (
            SELECT c.as_of, c.household_id, k.balance_date, k.arrears, k.stage, k.spd, k.ctr,
                   date_diff('month', k.balance_date, s.snapshot) AS back
            FROM {fs.cohort} c JOIN {fs.snapshots} s USING (as_of)
            JOIN {fs.prefix}ct k ON k.uprn = c.uprn AND k.known_on <= c.as_of
              AND k.balance_date BETWEEN s.snapshot - INTERVAL 12 MONTH AND s.snapshot
        )
        SELECT as_of, household_id,
               max(arrears) FILTER (WHERE back = 0) AS ct_arrears,
               max(arrears) FILTER (WHERE back = 1) AS ct_arrears_1m,
               max(arrears) FILTER (WHERE back = 3) AS ct_arrears_3m,
               max(arrears) FILTER (WHERE back = 6) AS ct_arrears_6m,
               max(arrears) FILTER (WHERE back = 12) AS ct_arrears_12m,
               coalesce(max(arrears) FILTER (WHERE back = 0), 0) - coalesce(max(arrears)
                   FILTER (WHERE back = 3), 0)
                   AS ct_arrears_change_3m,
               max(arrears) AS ct_arrears_max_12m,
               count(*) FILTER (WHERE arrears > 0 AND back < 12) AS ct_months_in_arrears_12m,
               max(stage) FILTER (WHERE back = 0) AS ct_stage,
               max(stage) AS ct_stage_max_12m,
               max(spd::INTEGER) FILTER (WHERE back = 0) AS ct_single_person_discount,
               (coalesce(max(spd::INTEGER) FILTER (WHERE back = 0), 0) = 1
                AND coalesce(max(spd::INTEGER) FILTER (WHERE back = 6), 1) = 0)::INTEGER
                    AS ct_discount_started_6m,
               max(ctr) FILTER (WHERE back = 0) AS ct_reduction_weekly
        FROM s GROUP BY ALL
    """)
    return f"{fs.prefix}f_council_tax"


def _rent(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """A council tenancy at the property: introductory or secure, arrears now (in pounds and in
    weeks of rent), their change over 3 months and worst in 12, a Notice of Seeking Possession or
    a possession order dated in the last year, an eviction date set, days since the notice, and
    how far possession proceedings on the current tenancy have gone (0 none, 1 a notice in the
    last year, 2 a possession order, 3 an eviction date to come)."""
    if not has_source(con, "rent_accounts"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_rent AS
        WITH r AS (
            SELECT c.as_of, c.household_id, r.*, date_diff('month', r.snapshot_date, c.as_of) AS back
            FROM {fs.cohort} c JOIN history_rent_accounts r ON r.uprn = c.uprn
                AND {known("rent_accounts", "r")} <= c.as_of
              AND r.snapshot_date BETWEEN c.as_of - INTERVAL 13 MONTH AND c.as_of
            QUALIFY row_number() OVER (PARTITION BY c.as_of, c.household_id, r.tenancy_ref, r.snapshot_date
                                       ORDER BY r._delivered_on DESC, r._file DESC, r._row DESC) = 1
        ),
        latest AS (SELECT as_of, household_id, max(snapshot_date) AS snap FROM r GROUP BY ALL)
        SELECT r.as_of, r.household_id,
               max((r.snapshot_date = l.snap AND (r.tenancy_end IS NULL OR r.tenancy_end > r.as_of))::INTEGER)
                   AS social_tenancy,
               max((r.snapshot_date = l.snap AND r.tenancy_type = 'introductory')::INTEGER)
                   AS introductory_tenancy,
               sum(r.arrears) FILTER (WHERE r.snapshot_date = l.snap) AS rent_arrears,
               sum(r.arrears / nullif(r.weekly_rent, 0)) FILTER (WHERE r.snapshot_date = l.snap)
                   AS rent_arrears_weeks,
               coalesce(sum(r.arrears) FILTER (WHERE r.snapshot_date = l.snap), 0)
                 - coalesce(sum(r.arrears) FILTER (WHERE r.back = date_diff('month', l.snap, r.as_of) + 3), 0)
                   AS rent_arrears_change_3m,
               max(r.arrears / nullif(r.weekly_rent, 0)) AS rent_arrears_weeks_max_12m,
               max((r.nosp_date > r.as_of - INTERVAL 365 DAY AND r.nosp_date <= r.as_of)::INTEGER)
                   AS nosp_12m,
               max((r.possession_order_date > r.as_of - INTERVAL 365 DAY
                    AND r.possession_order_date <= r.as_of)::INTEGER) AS possession_order_12m,
               max((r.eviction_date > r.as_of)::INTEGER) AS eviction_date_set,
               max(CASE WHEN r.snapshot_date <> l.snap OR (r.tenancy_end IS NOT NULL
                   AND r.tenancy_end <= r.as_of)
                        THEN 0
                        WHEN r.eviction_date > r.as_of THEN 3
                        WHEN r.possession_order_date <= r.as_of THEN 2
                        WHEN r.nosp_date <= r.as_of AND r.nosp_date > r.as_of - INTERVAL 365 DAY THEN 1
                        ELSE 0 END) AS possession_stage,
               min({_days("r.nosp_date", "r.as_of")}) FILTER (WHERE r.nosp_date <= r.as_of) AS days_since_nosp
        FROM r JOIN latest l USING (as_of, household_id) GROUP BY ALL
    """)
    return f"{fs.prefix}f_rent"


def _benefits(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """The household's benefit claims (claimant or partner a member): weekly housing benefit and
    Universal Credit as the latest event says, whether a claim is live, benefit cap, suspension,
    non-dependant deduction, overpayment and claim-end events in the last 3 or 12 months, days
    since the latest event, and housing benefit without a council tenancy (a private renter)."""
    if not has_source(con, "benefits"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_benefits AS
        WITH e AS (
            SELECT r.as_of, r.household_id, b.claim_ref, b.event_type, b.event_date, b.hb_weekly,
                   b.universal_credit, b._file, b._row
            FROM {fs.records} r
            JOIN history_benefits b ON r.source = 'benefits' AND CAST(b.claim_ref AS VARCHAR) = r.record
            WHERE {known("benefits", "b")} <= r.as_of AND b.event_date <= r.as_of
        ),
        last AS (
            SELECT as_of, household_id, claim_ref,
                   first(event_type ORDER BY event_date DESC, _file DESC, _row DESC) AS last_type,
                   first(hb_weekly ORDER BY event_date DESC, _file DESC, _row DESC) AS hb,
                   first(universal_credit::INTEGER ORDER BY event_date DESC, _file DESC, _row DESC) AS uc
            FROM e GROUP BY ALL
        ),
        claims AS (
            SELECT as_of, household_id, sum(hb) FILTER (WHERE last_type <> 'claim_end')
                AS housing_benefit_weekly,
                   max(uc) FILTER (WHERE last_type <> 'claim_end') AS universal_credit,
                   max((last_type <> 'claim_end')::INTEGER) AS claim_live,
                   count(*) FILTER (WHERE last_type <> 'claim_end') AS live_claims
            FROM last GROUP BY ALL
        ),
        events AS (
            SELECT as_of, household_id,
                   count(*) FILTER (WHERE event_type = 'benefit_cap'
                       AND event_date > as_of - INTERVAL 365 DAY) AS benefit_cap_12m,
                   count(*) FILTER (WHERE event_type = 'benefit_cap'
                       AND event_date > as_of - INTERVAL 91 DAY) AS benefit_cap_3m,
                   count(*) FILTER (WHERE event_type = 'suspension'
                       AND event_date > as_of - INTERVAL 365 DAY) AS suspension_12m,
                   count(*) FILTER (WHERE event_type = 'non_dependant_deduction'
                       AND event_date > as_of - INTERVAL 365 DAY)
                       AS non_dependant_deduction_12m,
                   count(*) FILTER (WHERE event_type = 'overpayment'
                       AND event_date > as_of - INTERVAL 365 DAY) AS overpayment_12m,
                   count(*) FILTER (WHERE event_type = 'claim_end'
                       AND event_date > as_of - INTERVAL 91 DAY) AS claim_ended_3m,
                   min({_days("event_date", "as_of")}) AS days_since_benefit_event
            FROM e GROUP BY ALL
        )
        SELECT * FROM claims FULL JOIN events USING (as_of, household_id)
    """)
    return f"{fs.prefix}f_benefits"


ADVICE_NOTICE = ("end_of_private_tenancy", "social_rent_arrears", "mortgage_arrears")
ADVICE_FAMILY = (
    "family_no_longer_willing", "friends_no_longer_willing", "relationship_breakdown", "domestic_abuse",
)  # fmt: skip


def _cases(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """Earlier homelessness approaches (a duty was owed) by any member, and days since the
    latest; advice-only approaches in the last three and six months, and by the threat they
    named: households often ask for advice before a duty is owed."""
    if not has_source(con, "homelessness_cases"):
        return None
    advice = "v.initial_duty = 'none' AND v.approach_date > r.as_of - INTERVAL 182 DAY"
    recent = "v.approach_date > r.as_of - INTERVAL 91 DAY"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_cases AS
        SELECT r.as_of, r.household_id,
               count(DISTINCT v.case_ref) FILTER (WHERE v.initial_duty <> 'none') AS prior_approaches,
               min({_days("v.approach_date", "r.as_of")}) FILTER (WHERE v.initial_duty <> 'none')
                   AS days_since_approach,
               count(DISTINCT v.case_ref) FILTER (WHERE {advice}) AS advice_6m,
               count(DISTINCT v.case_ref) FILTER (WHERE {advice} AND v.reason IN {ADVICE_NOTICE})
                   AS advice_notice_6m,
               count(DISTINCT v.case_ref) FILTER (WHERE {advice} AND v.reason IN {ADVICE_FAMILY})
                   AS advice_family_6m,
               count(DISTINCT v.case_ref) FILTER (WHERE {advice} AND {recent})
                   AS advice_3m
        FROM {fs.records} r JOIN {fs.as_of} a USING (as_of)
        JOIN {fs.version("homelessness_cases")} v ON r.source = 'homelessness_cases' AND CAST(v.case_ref
            AS VARCHAR) = r.record
          AND {current_version()}
        WHERE v.approach_date <= r.as_of GROUP BY ALL
    """)
    return f"{fs.prefix}f_cases"


def _children(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """Children's services referrals naming a member (child or carer) in the last year, one open
    now, a child protection referral in the last year, days since the latest referral."""
    if not has_source(con, "childrens_services"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_children AS
        SELECT r.as_of, r.household_id,
               count(DISTINCT v.referral_ref) FILTER (WHERE v.referral_date > r.as_of - INTERVAL 365 DAY)
                   AS referrals_12m,
               max((v.close_date IS NULL OR v.close_date > r.as_of)::INTEGER) AS open_referral,
               max((v.category = 'child_protection'
                   AND v.referral_date > r.as_of - INTERVAL 365 DAY)::INTEGER)
                   AS child_protection_12m,
               min({_days("v.referral_date", "r.as_of")}) AS days_since_referral
        FROM {fs.records} r JOIN {fs.as_of} a USING (as_of)
        JOIN {fs.version("childrens_services")} v ON r.source = 'childrens_services'
          AND CAST(v.referral_ref AS VARCHAR) = r.record AND {current_version()}
        WHERE v.referral_date <= r.as_of GROUP BY ALL
    """)
    return f"{fs.prefix}f_children"


def _care(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """An adult social care episode open now for a member, and whether its primary support
    reason is mental health or substance misuse."""
    if not has_source(con, "adult_social_care"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_care AS
        SELECT r.as_of, r.household_id, 1 AS open_care_episode,
               max((v.primary_support_reason IN ('mental_health', 'substance_misuse'))::INTEGER)
                   AS care_mental_health_or_substance
        FROM {fs.records} r JOIN {fs.as_of} a USING (as_of)
        JOIN {fs.version("adult_social_care")} v ON r.source = 'adult_social_care' AND CAST(v.person_ref
            AS VARCHAR) = r.record
          AND {current_version()}
        WHERE v.start_date <= r.as_of AND (v.end_date IS NULL OR v.end_date > r.as_of) GROUP BY ALL
    """)
    return f"{fs.prefix}f_care"


def _asb(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """Anti-social behaviour incidents recorded at the property in the last year: all, with a
    member's household as perpetrator or victim, domestic-related."""
    if not has_source(con, "asb_incidents"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_asb AS
        SELECT c.as_of, c.household_id, count(DISTINCT i.incident_ref) AS asb_12m,
               count(DISTINCT i.incident_ref) FILTER (WHERE i.role = 'perpetrator') AS asb_perpetrator_12m,
               count(DISTINCT i.incident_ref) FILTER (WHERE i.role = 'victim') AS asb_victim_12m,
               count(DISTINCT i.incident_ref) FILTER (WHERE i.category = 'domestic_related')
                   AS asb_domestic_12m
        FROM {fs.cohort} c
        JOIN history_asb_incidents i ON {known("asb_incidents", "i")} <= c.as_of
          AND i.incident_date > c.as_of - INTERVAL 365 DAY AND i.incident_date <= c.as_of
        JOIN link_addresses a ON a.address = i.address AND a.postcode IS NOT DISTINCT FROM i.postcode
            AND a.uprn = c.uprn
        GROUP BY ALL
    """)
    return f"{fs.prefix}f_asb"


def _education(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """A child member's school record: persistent absence and free school meals in the latest
    term known, suspensions and an exclusion in the last year."""
    if not has_source(con, "education"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_education AS
        WITH e AS (
            SELECT r.as_of, r.household_id, p.*,
                   {term_start("p.term")} AS starts
            FROM {fs.records} r JOIN history_education p ON r.source = 'education' AND CAST(p.pupil_ref
                AS VARCHAR) = r.record
            WHERE {known("education", "p")} <= r.as_of
        ),
        latest AS (SELECT as_of, household_id, max(starts) AS term_start FROM e
            WHERE starts <= as_of GROUP BY ALL)
        SELECT e.as_of, e.household_id,
               max(e.persistent_absence::INTEGER) FILTER (WHERE e.starts = l.term_start)
                   AS persistent_absence,
               max(e.free_school_meals::INTEGER) FILTER (WHERE e.starts = l.term_start) AS free_school_meals,
               sum(e.suspensions) FILTER (WHERE e.starts > e.as_of - INTERVAL 365 DAY AND e.starts <= e.as_of)
                   AS suspensions_12m,
               max((e.exclusion_date > e.as_of - INTERVAL 365 DAY AND e.exclusion_date <= e.as_of)::INTEGER)
                   AS exclusion_12m
        FROM e JOIN latest l USING (as_of, household_id) GROUP BY ALL
    """)
    return f"{fs.prefix}f_education"


def _bereavement(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """A death registered at the property in the last year."""
    if not has_source(con, "deaths"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_bereavement AS
        SELECT c.as_of, c.household_id, 1 AS bereavement_12m
        FROM {fs.cohort} c JOIN link_mentions m ON m.source = 'deaths' AND m.uprn = c.uprn
        JOIN history_deaths d ON CAST(d.notification_ref AS VARCHAR) = m.record
            AND {known("deaths", "d")} <= c.as_of
          AND d.date_of_death > c.as_of - INTERVAL 365 DAY AND d.date_of_death <= c.as_of
        GROUP BY ALL
    """)
    return f"{fs.prefix}f_bereavement"


def _area(con: duckdb.DuckDBPyConnection, fs: FeatureSet) -> str | None:
    """The deprivation decile (1 most deprived) of the property's neighbourhood (LSOA)."""
    if not has_source(con, "area_deprivation"):
        return None
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}f_area AS
        WITH g AS (
            SELECT c.as_of, c.household_id, l.lsoa, l.ward_code AS ward FROM {fs.cohort} c
            JOIN history_llpg l ON CAST(l.uprn AS VARCHAR) = c.uprn
            QUALIFY row_number() OVER (PARTITION BY c.as_of, c.household_id ORDER BY l._delivered_on DESC) = 1
        )
        SELECT g.as_of, g.household_id, g.ward, d.imd_decile FROM g
        JOIN history_area_deprivation d ON d.lsoa = g.lsoa
        QUALIFY row_number() OVER (PARTITION BY g.as_of, g.household_id ORDER BY d._delivered_on DESC) = 1
    """)
    return f"{fs.prefix}f_area"


def _labels(con: duckdb.DuckDBPyConnection, fs: FeatureSet, horizon_days: int) -> None:
    """(as_of, household_id, label, censored). The label: a homelessness case whose
    initial duty is prevention or relief opens within the horizon for anyone who lived in the
    household at the as-of date (each case as it now stands). Censored: no such case, and every
    member has left the borough or died within the horizon (their last stay anywhere ended)."""
    cases = "SELECT NULL::VARCHAR AS person_id, NULL::DATE AS approach_date WHERE false"
    if has_source(con, "homelessness_cases"):
        cases = """
            SELECT x.person_id, v.approach_date FROM link_person_xref x
            JOIN (SELECT * FROM history_homelessness_cases
                  QUALIFY row_number() OVER (PARTITION BY case_ref ORDER BY _delivered_on DESC, _file DESC,
                      _row DESC) = 1) v
              ON x.source = 'homelessness_cases' AND x.slot = 1 AND CAST(v.case_ref AS VARCHAR) = x.record
            WHERE v.initial_duty IN ('prevention', 'relief')
        """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {fs.prefix}labels AS
        WITH members AS (
            SELECT m.as_of, m.household_id, f.final_id AS person_id
            FROM {fs.members} m SEMI JOIN {fs.cohort} USING (as_of, household_id)
            JOIN {fs.members_final} f USING (as_of, person_id)
        ),
        hit AS (
            SELECT DISTINCT m.as_of, m.household_id FROM members m JOIN ({cases}) c USING (person_id)
            WHERE c.approach_date > m.as_of
                AND c.approach_date <= m.as_of + INTERVAL {sql.integer(horizon_days)} DAY
        ),
        gone AS (
            SELECT person_id, CASE WHEN bool_or(valid_to IS NULL) THEN NULL ELSE max(valid_to) END AS left_on
            FROM link_residence GROUP BY 1
        ),
        stays AS (
            SELECT m.as_of, m.household_id,
                   bool_and(g.left_on IS NOT NULL
                       AND g.left_on <= m.as_of + INTERVAL {sql.integer(horizon_days)} DAY)
                       AS all_gone
            FROM members m LEFT JOIN gone g USING (person_id) GROUP BY ALL
        )
        SELECT c.as_of, c.household_id, (h.household_id IS NOT NULL)::INTEGER AS label,
               (h.household_id IS NULL AND coalesce(s.all_gone, false)) AS censored
        FROM {fs.cohort} c LEFT JOIN hit h USING (as_of, household_id) LEFT JOIN stays s USING (as_of,
            household_id)
    """)


def objecting_households(con: duckdb.DuckDBPyConnection, fs: FeatureSet, as_of: date) -> str:
    """SQL (as_of, household_id): every household at each date of the build `fs` (its
    members), with a member or a reference under an objection upheld by as_of (a reference names
    today's household id, so it is found among today's members)."""
    if not has_source(con, "objections"):
        return "SELECT NULL::DATE AS as_of, NULL::VARCHAR AS household_id WHERE false"
    day = sql.day(as_of)
    upheld = (
        f"SELECT * FROM ({versions('objections')}) WHERE known_from <= {day} QUALIFY row_number() OVER "
        "(PARTITION BY objection_ref ORDER BY known_from DESC, _delivered_on DESC, _file DESC, _row DESC) = 1"
    )
    return f"""
        WITH objecting AS (
            SELECT x.person_id FROM ({upheld}) o
            JOIN link_person_xref x ON x.source = 'objections' AND x.record = CAST(o.objection_ref AS VARCHAR)
            WHERE o.status = 'upheld'
            UNION SELECT m.person_id FROM ({upheld}) o JOIN link_household_members m
              ON m.household_id = o.household_ref WHERE o.status = 'upheld'
        )
        SELECT DISTINCT m.as_of, m.household_id FROM {fs.members} m JOIN {fs.members_final} f
            USING (as_of, person_id)
        WHERE f.final_id IN (SELECT person_id FROM objecting)
    """
