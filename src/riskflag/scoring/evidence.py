"""The evidence behind each reason family, recomputed from the source records for the flagged
households only, with the records cited and the date the council knew them.

Evidence is not read off the model's features: a caseworker must be able to open the cited
record and find the value shown. Each family's query returns, per household, whether a record
shows a concern (the family may be a reason) or a strength (it may be a protective factor);
no record, no reason. They run in the connection features.build left its point-in-time
relations in (named by its FeatureSet), over the flagged households (a Flagged: the relation
`flag_households` registered for them); the services family reads the build's features.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from riskflag.core import sql
from riskflag.features import STAGES, FeatureSet, current_version, has_source
from riskflag.ingest import known, term_start


@dataclass(frozen=True)
class Flagged:
    """The households flagged tonight (as_of, household_id, uprn), in `relation`, a TEMP TABLE
    in the namespace of the feature build they were scored from."""

    relation: str
    features: FeatureSet


def flag_households(con: duckdb.DuckDBPyConnection, fs: FeatureSet, flagged: pd.DataFrame) -> Flagged:
    """Register the flagged households (as_of, household_id, uprn) for the queries that follow."""
    out = Flagged(fs.name("flagged"), fs)
    con.register("flagged_in", flagged[["as_of", "household_id", "uprn"]])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out.relation} AS SELECT as_of, household_id, uprn FROM flagged_in"
    )
    con.unregister("flagged_in")
    return out


ADVERSE = {
    "benefit_cap": "Benefit cap applied",
    "suspension": "Benefit suspended",
    "non_dependant_deduction": "Non-dependant deduction applied",
    "overpayment": "Overpayment recovery started",
    "claim_end": "Benefit claim ended",
}


def _stage_name() -> str:
    return "CASE stage " + " ".join(f"WHEN {i} THEN {sql.string(s)}" for i, s in enumerate(STAGES)) + " END"


def _cited(fl: Flagged, source: str, ref: str) -> str:
    """FROM clause: each flagged household's cited records of a current-state source (v), in
    the version the council held at the household's as-of date."""
    fs = fl.features
    return (
        f"FROM {fl.relation} f JOIN {fs.as_of} a USING (as_of) "
        f"JOIN {fs.records} r ON r.as_of = f.as_of AND r.household_id = f.household_id "
        f"AND r.source = {sql.string(source)} "
        f"JOIN {fs.version(source)} v ON CAST(v.{sql.ident(ref)} AS VARCHAR) = r.record "
        f"AND {current_version()}"
    )


def council_tax(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str:
    stage = " ".join(f"WHEN {sql.string(s)} THEN {i}" for i, s in enumerate(STAGES))
    return f"""
        WITH s AS (SELECT f.*, n.snapshot FROM {fl.relation} f JOIN {fl.features.snapshots} n USING (as_of)),
        h AS (
            SELECT s.household_id, h.account_ref, h.balance_date, h.arrears,
                   CASE h.recovery_stage {stage} ELSE 0 END AS stage, {known("council_tax", "h")} AS k,
                   date_diff('month', h.balance_date, s.snapshot) AS back
            FROM s JOIN history_council_tax h ON h.uprn = s.uprn AND {known("council_tax", "h")} <= s.as_of
             AND h.balance_date <= s.snapshot AND date_diff('month', h.balance_date, s.snapshot) IN (0, 3)
            QUALIFY row_number() OVER (PARTITION BY s.household_id, h.account_ref, h.balance_date
                                       ORDER BY h._delivered_on DESC, h._file DESC, h._row DESC) = 1
        ),
        a AS (
            SELECT household_id, coalesce(sum(arrears) FILTER (WHERE back = 0), 0) AS arrears,
                   coalesce(sum(arrears) FILTER (WHERE back = 3), 0) AS arrears_3m,
                   coalesce(max(stage) FILTER (WHERE back = 0), 0) AS stage,
                   list(DISTINCT account_ref ORDER BY account_ref) FILTER (WHERE back = 0) AS records,
                   max(k) FILTER (WHERE back = 0) AS known, max(balance_date) AS record_date
            FROM h GROUP BY ALL
        )
        SELECT household_id, arrears > 0 OR stage > 0 AS concern, arrears <= 0 AND stage = 0 AS strength,
               'council tax' AS source, records, known, arrears, arrears_3m, {_stage_name()} AS stage,
               record_date
        FROM a WHERE records IS NOT NULL
    """


def rent(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "rent_accounts"):
        return None
    return f"""
        WITH r AS (
            SELECT f.as_of, f.household_id, r.*, {known("rent_accounts", "r")} AS k
            FROM {fl.relation} f JOIN history_rent_accounts r ON r.uprn = f.uprn
             AND {known("rent_accounts", "r")} <= f.as_of
             AND r.snapshot_date BETWEEN f.as_of - INTERVAL 13 MONTH AND f.as_of
            QUALIFY row_number() OVER (PARTITION BY f.household_id, r.tenancy_ref, r.snapshot_date
                                       ORDER BY r._delivered_on DESC, r._file DESC, r._row DESC) = 1
        ),
        l AS (SELECT * FROM r QUALIFY snapshot_date = max(snapshot_date) OVER (PARTITION BY household_id)),
        a AS (
            SELECT household_id, any_value(as_of) AS as_of, sum(arrears) AS arrears,
                   sum(arrears / nullif(weekly_rent, 0)) AS weeks,
                   max(nosp_date) FILTER (WHERE nosp_date <= as_of AND nosp_date > as_of - INTERVAL 365 DAY)
                       AS nosp_date,
                   max(possession_order_date) FILTER (WHERE possession_order_date <= as_of
                       AND possession_order_date > as_of - INTERVAL 365 DAY) AS possession_order_date,
                   max(eviction_date) FILTER (WHERE eviction_date > as_of) AS eviction_date,
                   bool_or(tenancy_end IS NULL OR tenancy_end > as_of) AS open_tenancy,
                   list(DISTINCT CAST(tenancy_ref AS VARCHAR)
                        ORDER BY CAST(tenancy_ref AS VARCHAR)) AS records,
                   max(k) AS known, max(snapshot_date) AS record_date
            FROM l GROUP BY household_id
        )
        SELECT household_id,
               arrears > 0 OR nosp_date IS NOT NULL OR possession_order_date IS NOT NULL
                   OR eviction_date IS NOT NULL AS concern,
               open_tenancy AND arrears <= 0 AND nosp_date IS NULL AND possession_order_date IS NULL
                   AND eviction_date IS NULL AS strength,
               'rent account' AS source, records, known, arrears, weeks, nosp_date, possession_order_date,
               eviction_date, record_date
        FROM a
    """


def benefits(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "benefits"):
        return None
    adverse = ", ".join(sql.string(t) for t in ADVERSE if t != "claim_end")
    return f"""
        WITH e AS (
            SELECT f.as_of, f.household_id, CAST(b.claim_ref AS VARCHAR) AS claim_ref, b.event_type,
                   b.event_date, {known("benefits", "b")} AS k, b._file, b._row,
                   (b.event_type IN ({adverse}) AND b.event_date > f.as_of - INTERVAL 365 DAY)
                   OR (b.event_type = 'claim_end' AND b.event_date > f.as_of - INTERVAL 91 DAY) AS adverse
            FROM {fl.relation} f JOIN {fl.features.records} r
             ON r.as_of = f.as_of AND r.household_id = f.household_id
             AND r.source = 'benefits'
            JOIN history_benefits b ON CAST(b.claim_ref AS VARCHAR) = r.record
             AND {known("benefits", "b")} <= f.as_of AND b.event_date <= f.as_of
        ),
        bad AS (
            SELECT household_id, count(*) AS events,
                   arg_max(event_type, (event_date, _file, _row)) AS event_type,
                   max(event_date) AS event_date,
                   arg_max(claim_ref, (event_date, _file, _row)) AS claim_ref,
                   arg_max(k, (event_date, _file, _row)) AS k
            FROM e WHERE adverse GROUP BY ALL
        ),
        live AS (
            SELECT household_id, list(claim_ref ORDER BY claim_ref) AS claims, max(k) AS k FROM (
                SELECT household_id, claim_ref, arg_max(event_type, (event_date, _file, _row)) AS last_type,
                       max(k) AS k
                FROM e GROUP BY ALL) WHERE last_type <> 'claim_end' GROUP BY ALL
        )
        SELECT coalesce(b.household_id, l.household_id) AS household_id, b.events IS NOT NULL AS concern,
               b.events IS NULL AND l.claims IS NOT NULL AS strength, 'benefits' AS source,
               CASE WHEN b.events IS NOT NULL THEN [b.claim_ref] ELSE l.claims END AS records,
               coalesce(b.k, l.k) AS known, b.events, b.event_type, b.event_date
        FROM bad b FULL JOIN live l USING (household_id)
    """


def _cases(con: duckdb.DuckDBPyConnection, fl: Flagged, values: str, which: str) -> str | None:
    """Homelessness cases by the household's members up to the as-of date that match `which`,
    cited, with `values` computed over them."""
    if not has_source(con, "homelessness_cases"):
        return None
    return f"""
        SELECT f.household_id, true AS concern, false AS strength, 'homelessness cases' AS source,
               list(DISTINCT CAST(v.case_ref AS VARCHAR) ORDER BY CAST(v.case_ref AS VARCHAR)) AS records,
               max(v.known_from) AS known, {values}
        {_cited(fl, "homelessness_cases", "case_ref")}
        WHERE v.approach_date <= f.as_of AND {which} GROUP BY f.household_id
    """


def prior_homelessness(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    return _cases(
        con,
        fl,
        "count(DISTINCT v.case_ref) AS approaches, max(v.approach_date) AS approach_date",
        "v.initial_duty <> 'none'",
    )


def housing_advice(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    """Advice-only approaches in the last six months; the latest one's reason (ties: case ref)."""
    return _cases(
        con,
        fl,
        "count(DISTINCT v.case_ref) AS advices, max(v.approach_date) AS advice_date, "
        "arg_max(v.reason, CAST(v.approach_date AS VARCHAR) || CAST(v.case_ref AS VARCHAR)) AS advice_reason",
        "v.initial_duty = 'none' AND v.approach_date > f.as_of - INTERVAL 182 DAY",
    )


def childrens_services(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "childrens_services"):
        return None
    return f"""
        WITH v AS (
            SELECT f.household_id, f.as_of, CAST(v.referral_ref AS VARCHAR) AS ref, v.referral_date,
                   v.category,
                   v.close_date, v.known_from
            {_cited(fl, "childrens_services", "referral_ref")}
            WHERE v.referral_date <= f.as_of
              AND (v.referral_date > f.as_of - INTERVAL 365 DAY OR v.close_date IS NULL
                   OR v.close_date > f.as_of)
        )
        SELECT household_id, true AS concern, bool_or(close_date IS NULL OR close_date > as_of) AS strength,
               'children''s services' AS source, [arg_max(ref, (referral_date, ref))] AS records,
               arg_max(known_from, (referral_date, ref)) AS known,
               count(DISTINCT ref) FILTER (WHERE referral_date > as_of - INTERVAL 365 DAY) AS referrals,
               max(referral_date) AS referral_date, arg_max(category, (referral_date, ref)) AS category
        FROM v GROUP BY household_id
    """


def adult_social_care(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "adult_social_care"):
        return None
    return f"""
        SELECT f.household_id, true AS concern, true AS strength, 'adult social care' AS source,
               [arg_min(CAST(v.person_ref AS VARCHAR), v.start_date)] AS records,
               arg_min(v.known_from, v.start_date) AS known, min(v.start_date) AS start_date,
               arg_min(v.primary_support_reason, v.start_date) AS support_reason
        {_cited(fl, "adult_social_care", "person_ref")}
        WHERE v.start_date <= f.as_of AND (v.end_date IS NULL OR v.end_date > f.as_of)
        GROUP BY f.household_id
    """


def asb(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "asb_incidents"):
        return None
    return f"""
        SELECT f.household_id, true AS concern, false AS strength, 'anti-social behaviour' AS source,
               list(DISTINCT CAST(i.incident_ref AS VARCHAR)
                    ORDER BY CAST(i.incident_ref AS VARCHAR)) AS records,
               max({known("asb_incidents", "i")}) AS known, count(DISTINCT i.incident_ref) AS incidents,
               max(i.incident_date) AS incident_date
        FROM {fl.relation} f
        JOIN history_asb_incidents i ON {known("asb_incidents", "i")} <= f.as_of
         AND i.incident_date > f.as_of - INTERVAL 365 DAY AND i.incident_date <= f.as_of
        JOIN link_addresses a ON a.address = i.address AND a.postcode IS NOT DISTINCT FROM i.postcode
         AND a.uprn = f.uprn
        GROUP BY f.household_id
    """


def education(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "education"):
        return None
    return f"""
        WITH e AS (
            SELECT f.household_id, f.as_of, CAST(p.pupil_ref AS VARCHAR) AS ref, p.persistent_absence,
                   p.suspensions, p.exclusion_date, p.term, {known("education", "p")} AS k,
                   {term_start("p.term")} AS starts
            FROM {fl.relation} f JOIN {fl.features.records} r
             ON r.as_of = f.as_of AND r.household_id = f.household_id
             AND r.source = 'education'
            JOIN history_education p ON CAST(p.pupil_ref AS VARCHAR) = r.record
             AND {known("education", "p")} <= f.as_of
        ),
        y AS (SELECT * FROM e WHERE starts <= as_of AND starts > as_of - INTERVAL 365 DAY),
        a AS (
            SELECT household_id,
                   bool_or(persistent_absence) FILTER (WHERE starts = (SELECT max(starts) FROM y y2
                       WHERE y2.household_id = y.household_id)) AS absent,
                   sum(suspensions) AS suspensions,
                   max(exclusion_date) FILTER (WHERE exclusion_date <= as_of
                       AND exclusion_date > as_of - INTERVAL 365 DAY) AS exclusion_date,
                   list(DISTINCT ref ORDER BY ref) AS records, max(k) AS known
            FROM y GROUP BY household_id
        )
        SELECT household_id, coalesce(absent, false) OR coalesce(suspensions, 0) > 0
                   OR exclusion_date IS NOT NULL AS concern,
               false AS strength, 'education' AS source, records, known, coalesce(absent, false) AS absent,
               coalesce(suspensions, 0) AS suspensions, exclusion_date
        FROM a
    """


def household(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str:
    return f"""
        WITH now AS (
            SELECT f.household_id, f.as_of, f.uprn, count(*) AS members, min(m.valid_from) AS moved_in,
                   max(coalesce(h.known_from, h.valid_from)) AS k
            FROM {fl.relation} f JOIN {fl.features.members} m USING (as_of, household_id)
            JOIN link_household_members h ON h.person_id = m.person_id AND h.uprn = m.uprn
             AND h.valid_from = m.valid_from
            GROUP BY ALL
        ),
        before AS (
            SELECT n.household_id, count(h.person_id) AS members_then FROM now n
            LEFT JOIN link_household_members h ON h.uprn = n.uprn
              AND h.valid_from <= n.as_of - INTERVAL 182 DAY
              AND coalesce(h.known_from, h.valid_from) <= n.as_of
              AND (h.valid_to IS NULL OR h.valid_to > n.as_of - INTERVAL 182 DAY
                   OR coalesce(h.end_known, h.valid_to) > n.as_of)
            GROUP BY ALL
        )
        SELECT n.household_id,
               n.members <> b.members_then OR n.moved_in > n.as_of - INTERVAL 365 DAY AS concern,
               false AS strength, 'linked household records' AS source, [n.household_id] AS records,
               n.k AS known, n.members, b.members_then,
               CASE WHEN n.moved_in > n.as_of - INTERVAL 365 DAY THEN n.moved_in END AS moved_in
        FROM now n JOIN before b USING (household_id)
    """


def bereavement(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "deaths"):
        return None
    return f"""
        SELECT f.household_id, true AS concern, false AS strength, 'deaths' AS source,
               list(DISTINCT CAST(d.notification_ref AS VARCHAR)) AS records,
               max({known("deaths", "d")}) AS known, max(d.date_of_death) AS death_date
        FROM {fl.relation} f JOIN link_mentions m ON m.source = 'deaths' AND m.uprn = f.uprn
        JOIN history_deaths d ON CAST(d.notification_ref AS VARCHAR) = m.record
         AND {known("deaths", "d")} <= f.as_of
         AND d.date_of_death > f.as_of - INTERVAL 365 DAY AND d.date_of_death <= f.as_of
        GROUP BY f.household_id
    """


def area(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str | None:
    if not has_source(con, "area_deprivation"):
        return None
    return f"""
        WITH g AS (
            SELECT f.household_id, l.lsoa FROM {fl.relation} f
            JOIN history_llpg l ON CAST(l.uprn AS VARCHAR) = f.uprn
            QUALIFY row_number() OVER (PARTITION BY f.household_id ORDER BY l._delivered_on DESC) = 1
        )
        SELECT g.household_id, d.imd_decile <= 3 AS concern, d.imd_decile >= 7 AS strength,
               'area deprivation' AS source, [g.lsoa] AS records, d._delivered_on AS known,
               d.imd_decile AS decile
        FROM g JOIN history_area_deprivation d ON d.lsoa = g.lsoa
        QUALIFY row_number() OVER (PARTITION BY g.household_id ORDER BY d._delivered_on DESC) = 1
    """


def services(con: duckdb.DuckDBPyConnection, fl: Flagged) -> str:
    """A count over the other families' records; cited as the features it was counted in."""
    return f"""
        SELECT f.household_id, s.services_12m >= 3 AS concern, false AS strength,
               'records in several services' AS source, [] :: VARCHAR[] AS records, f.as_of AS known,
               CAST(s.services_12m AS INTEGER) AS services
        FROM {fl.relation} f JOIN {fl.features.table} s USING (as_of, household_id)
    """


FAMILIES = {
    "council_tax": council_tax,
    "rent": rent,
    "benefits": benefits,
    "prior_homelessness": prior_homelessness,
    "housing_advice": housing_advice,
    "childrens_services": childrens_services,
    "adult_social_care": adult_social_care,
    "asb": asb,
    "education": education,
    "household": household,
    "bereavement": bereavement,
    "area": area,
    "services": services,
}


def gather(con: duckdb.DuckDBPyConnection, flagged: Flagged) -> dict[str, pd.DataFrame]:
    """Evidence per family for the flagged households, indexed by household id. A family whose
    source the council does not send has none."""
    out: dict[str, pd.DataFrame] = {}
    for name, query in FAMILIES.items():
        q = query(con, flagged)
        if q is None:
            continue
        out[name] = con.execute(q).df().set_index("household_id")
    return out


def names_and_addresses(con: duckdb.DuckDBPyConnection, fl: Flagged) -> pd.DataFrame:
    """For the caseworker's list only: the person named first on the current council-tax
    account, the gazetteer address, and how many people the council knows live there."""
    fs = fl.features
    if con.execute(f"SELECT count(*) FROM {fl.relation}").fetchall()[0][0] == 0:
        return pd.DataFrame(columns=["household_id", "lead_name", "address", "members"])
    return con.execute(f"""
        WITH lead AS (
            SELECT f.household_id, coalesce(h.liable_name_1__raw, h.liable_name_1) AS lead_name
            FROM {fl.relation} f JOIN {fs.snapshots} s USING (as_of)
            JOIN history_council_tax h ON h.uprn = f.uprn AND h.balance_date = s.snapshot
             AND {known("council_tax", "h")} <= f.as_of
             AND (h.account_end IS NULL OR h.account_end > h.balance_date)
            QUALIFY row_number() OVER (PARTITION BY f.household_id
                ORDER BY h.account_start DESC NULLS LAST, h.account_ref, h._delivered_on DESC) = 1
        ),
        addr AS (
            SELECT f.household_id, concat_ws(', ', nullif(trim(concat_ws(' ', l.sao_text, '')), ''),
                   trim(concat_ws(' ', CAST(l.pao_number AS VARCHAR), l.street)), l.town, l.postcode)
                   AS address
            FROM {fl.relation} f JOIN history_llpg l ON CAST(l.uprn AS VARCHAR) = f.uprn
            QUALIFY row_number() OVER (PARTITION BY f.household_id ORDER BY l._delivered_on DESC) = 1
        ),
        n AS (SELECT household_id, count(*) AS members FROM {fs.members}
              SEMI JOIN {fl.relation} USING (as_of, household_id)
              GROUP BY 1)
        SELECT f.household_id, lead.lead_name, addr.address, n.members FROM {fl.relation} f
        LEFT JOIN lead USING (household_id) LEFT JOIN addr USING (household_id)
        LEFT JOIN n USING (household_id)
    """).df()
