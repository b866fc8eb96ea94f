"""Every person a source names, as one table of mentions, and their distinct identities.

A mention is one person named by one source record: a council-tax account with "SHAH, Rosemary
& Ashley" names two, a benefits claim names the claimant and the partner. A record is what the
source keeps over time (an account, a tenancy, a claim, a case), so sixty monthly snapshots of
an account are one record seen sixty times: a mention carries when its record was first and
last seen and how many rows said so, which is what residence needs, and linkage costs what the
distinct people cost rather than what the history's length costs. Names are split and
normalised here, each address is replaced by its UPRN, and mentions that agree on every
identifying value are one identity.

Mentions are built from every version of every row delivered by the as-of date (a corrected
name is evidence too), so those of new deliveries can be added to the last run's without
reading the history again: the aggregates (first and last seen, counts) merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskflag.core import sql
from riskflag.ingest import term_start

IDENTITY = ("forename", "surname", "forename_canon", "dob", "nino", "uprn", "postcode")


@dataclass(frozen=True)
class Slot:
    """Where one person is in a source's record (contract field names)."""

    forename: str | None = None
    surname: str | None = None
    full_name: str | None = None  # "SURNAME, Forename[ & Forename]" or "Forename Surname"
    dob: str | None = None
    nino: str | None = None


@dataclass(frozen=True)
class PersonSource:
    record: str  # SQL: the record the row is a version or a snapshot of
    date: str  # SQL: when the row says the person was there
    slots: tuple[Slot, ...]
    uprn: str | None = None
    address: str | None = None
    postcode: str | None = None
    # SQL, or None where the source does not say: when an account or tenancy began and, once it
    # is over, when it ended; and the date of a death, which ends every stay
    since: str | None = None
    until: str | None = None
    death: str | None = None
    # SQL, or None: true where the row says only the first person it names lives there (a
    # council-tax single person discount). The others it names are still evidence of who they
    # are, but not of where they live.
    alone: str | None = None


SOURCES: dict[str, PersonSource] = {
    "council_tax": PersonSource(
        sql.ident("account_ref"),
        sql.ident("balance_date"),
        (Slot(full_name="liable_name_1", dob="liable_dob_1"), Slot(full_name="liable_name_2")),
        uprn="uprn",
        since=sql.ident("account_start"),
        until=f"coalesce({sql.ident('account_end')}, DATE '9999-12-31')",
        alone=f"coalesce({sql.ident('single_person_discount')}, false)",
    ),
    "rent_accounts": PersonSource(
        sql.ident("tenancy_ref"),
        sql.ident("snapshot_date"),
        (
            Slot("tenant1_forename", "tenant1_surname", dob="tenant1_dob"),
            Slot("tenant2_forename", "tenant2_surname", dob="tenant2_dob"),
        ),
        uprn="uprn",
        since=sql.ident("tenancy_start"),
        until=f"coalesce({sql.ident('tenancy_end')}, {sql.ident('eviction_date')}, DATE '9999-12-31')",
    ),
    "benefits": PersonSource(
        sql.ident("claim_ref"),
        sql.ident("event_date"),
        (
            Slot("claimant_forename", "claimant_surname", dob="claimant_dob", nino="claimant_nino"),
            Slot("partner_forename", "partner_surname", dob="partner_dob", nino="partner_nino"),
        ),
        uprn="uprn",
        address="address",
        postcode="postcode",
    ),
    "homelessness_cases": PersonSource(
        sql.ident("case_ref"),
        sql.ident("approach_date"),
        (Slot("applicant_forename", "applicant_surname", dob="applicant_dob", nino="applicant_nino"),),
        address="address",
        postcode="postcode",
    ),
    "childrens_services": PersonSource(
        sql.ident("referral_ref"),
        sql.ident("referral_date"),
        (
            Slot("child_forename", "child_surname", dob="child_dob"),
            Slot(full_name="carer1_name"),
            Slot(full_name="carer2_name"),
        ),
        address="address",
        postcode="postcode",
    ),
    "adult_social_care": PersonSource(
        sql.ident("person_ref"),
        sql.ident("start_date"),
        (Slot("forename", "surname", dob="dob"),),
        address="address",
        postcode="postcode",
    ),
    "education": PersonSource(
        sql.ident("pupil_ref"),
        term_start(sql.ident("term")),
        (Slot("forename", "surname", dob="dob"),),
        address="address",
        postcode="postcode",
    ),
    "deaths": PersonSource(
        sql.ident("notification_ref"),
        sql.ident("date_of_death"),
        (Slot("forename", "surname", dob="dob"),),
        address="address",
        postcode="postcode",
        death=sql.ident("date_of_death"),
    ),
    "objections": PersonSource(
        sql.ident("objection_ref"),
        sql.ident("date_received"),
        (Slot(full_name="full_name", dob="dob"),),
        address="address",
        postcode="postcode",
    ),
}


def _col(name: str | None, cast: str = "VARCHAR") -> str:
    return f"CAST({sql.ident(name)} AS {cast})" if name else f"NULL::{cast}"


def raw_mentions_select(source: str, spec: PersonSource, rel: str, known: str = "_delivered_on") -> str:
    """One row per (record, slot, values as sent) naming someone, over the rows of rel: the name
    as given (forenames a list, for joint names), dob, nino, uprn, address and postcode; when the
    record was first and last seen, in how many rows and when the council first knew of it, and
    first and last seen in rows that do not say its first person lives there alone, and first
    seen and known in rows that do; and
    where the source says, when the stay
    began (`since`), ended (`until`: 9999-12-31 while it lasts, as the latest row says) or the
    person died (`died`). Rows are grouped before names are parsed: a history repeats them."""
    parts = []
    for i, s in enumerate(spec.slots, start=1):
        given = [c for c in (s.full_name, s.forename, s.surname, s.dob, s.nino) if c]
        given += [c for c in (spec.uprn, spec.address, spec.postcode) if c and c not in given]
        cols = ", ".join(sql.ident(c) for c in given)
        if s.full_name:
            full = f"trim(coalesce({sql.ident(s.full_name)}, ''))"
            comma = f"strpos({full}, ',') > 0"
            before, after = f"trim(split_part({full}, ',', 1))", f"trim(split_part({full}, ',', 2))"
            words = f"string_split(trim(regexp_replace({full}, '\\s*&\\s*', ' & ', 'g')), ' ')"
            surname = f"CASE WHEN {comma} THEN {before} ELSE {words}[-1] END"
            forename = f"CASE WHEN {comma} THEN {after} ELSE array_to_string({words}[:-2], ' ') END"
            forenames = (
                f"list_transform(string_split({forename}, '&'), lambda x: split_part(trim(x), ' ', 1))"
            )
            cond = f"{full} <> ''"
        else:
            assert s.forename and s.surname
            fore, surname = sql.ident(s.forename), sql.ident(s.surname)
            forenames = f"[split_part(trim({fore}), ' ', 1)]"
            cond = f"coalesce({fore}, '') <> '' OR coalesce({surname}, '') <> ''"
        grouped = (
            f"SELECT CAST({spec.record} AS VARCHAR) AS record, {cols}, min(_seen) AS first_seen, "
            "max(_seen) AS last_seen, min(_since) AS since, arg_max(_until, _seen) AS until, "
            "min(_died) AS died, count(*) AS records, min(_known) AS first_known, "
            "min(_seen) FILTER (WHERE NOT _alone) AS shared_first, "
            "max(_seen) FILTER (WHERE NOT _alone) AS shared_last, "
            "min(_seen) FILTER (WHERE _alone) AS alone_first, "
            "min(_known) FILTER (WHERE _alone) AS alone_known "
            "FROM (SELECT *, "
            f"CAST({known} AS DATE) AS _known, "
            f"coalesce(CAST({spec.alone or 'false'} AS BOOLEAN), false) AS _alone, "
            f"CAST({spec.date} AS DATE) AS _seen, CAST({spec.since or 'NULL'} AS DATE) AS _since, "
            f"CAST({spec.until or 'NULL'} AS DATE) AS _until, CAST({spec.death or 'NULL'} AS DATE) AS _died "
            f"FROM ({rel}) WHERE {cond}) GROUP BY ALL"
        )
        parts.append(
            f"SELECT {sql.string(source)} AS source, record, {i} AS slot, {forenames} AS forenames, "
            f"{surname} AS surname, {_col(s.dob, 'DATE')} AS dob, {_col(s.nino)} AS nino, "
            f"{_col(spec.uprn)} AS uprn_given, {_col(spec.address)} AS address, "
            f"{_col(spec.postcode)} AS postcode, first_seen, last_seen, since, until, died, records, "
            "first_known, shared_first, shared_last, alone_first, alone_known "
            f"FROM ({grouped})"
        )
    return " UNION ALL ".join(parts)


def name_key(expr: str) -> str:
    """A name as compared: upper case, no accents, letters only ("O'Brien" = "OBRIEN")."""
    return f"nullif(regexp_replace(upper(strip_accents(coalesce({expr}, ''))), '[^A-Z]', '', 'g'), '')"


def mentions_select(raw: str, nicknames: str, addresses: str, gazetteer_uprns: str) -> str:
    """Mentions with normalised names (one row per forename of a joint name; the date of birth
    and NI number belong to the first), the nickname's usual form, the UPRN (given and known to
    the gazetteer, else matched from the address), when rows placed the person there
    (lived_first, lived_last: NULL if every row said someone else lived there alone), and when
    a row first said that someone else lived there alone, and when the council knew it
    (alone_first, alone_known)."""
    first = "r.slot = 1 AND f.i = 1"
    return f"""
        SELECT r.source, r.record, r.slot + 10 * (f.i - 1) AS slot, r.first_seen, r.last_seen, r.records,
               r.first_known,
               CASE WHEN {first} THEN r.first_seen ELSE r.shared_first END AS lived_first,
               CASE WHEN {first} THEN r.last_seen ELSE r.shared_last END AS lived_last,
               CASE WHEN NOT ({first}) THEN r.alone_first END AS alone_first,
               CASE WHEN NOT ({first}) THEN r.alone_known END AS alone_known,
               {name_key("f.forename")} AS forename, {name_key("r.surname")} AS surname,
               coalesce(n.usual, {name_key("f.forename")}) AS forename_canon,
               CASE WHEN f.i = 1 THEN CAST(r.dob AS VARCHAR) END AS dob,
               CASE WHEN f.i = 1 THEN nullif(regexp_replace(upper(coalesce(r.nino, '')), '[^A-Z0-9]', '',
                   'g'), '') END AS nino,
               coalesce(g.uprn, a.uprn) AS uprn, r.postcode, r.since, r.until, r.died
        FROM ({raw}) r
        CROSS JOIN LATERAL (SELECT unnest(r.forenames) AS forename,
                                   generate_subscripts(r.forenames, 1) AS i) f
        LEFT JOIN ({nicknames}) n ON n.nickname = {name_key("f.forename")}
        LEFT JOIN ({gazetteer_uprns}) g ON g.uprn = r.uprn_given
        LEFT JOIN ({addresses}) a ON a.address = r.address AND a.postcode IS NOT DISTINCT FROM r.postcode
    """


def identity_id(cols: tuple[str, ...] = IDENTITY) -> str:
    """A stable id for an identity: the same values give the same id in every run."""
    return "md5(concat_ws('|', " + ", ".join(f"coalesce({c}, '')" for c in cols) + "))"
