"""Map a source's columns and codes onto the contract's names, and standardise values in SQL.

The text as sent is kept beside a field's clean value (`<field>__raw`) wherever the two differ,
so that a caseworker or data officer can always see what the system sent. A value that cannot be read
as its contract type, or a code the config does not map, gets a rule in `<field>__bad`: the
row is quarantined with that rule and the value named, never guessed at.

All of it is SQL run by DuckDB, so it stays set-based and portable.
"""

from __future__ import annotations

import difflib

from riskflag.config import SourceConfig
from riskflag.contracts import Contract, Field
from riskflag.core import sql
from riskflag.ingest.problems import DeliveryStop

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%b-%Y", "%d %b %Y", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S")
TRUE = ("true", "t", "y", "yes", "1")
FALSE = ("false", "f", "n", "no", "0")


def check_columns(
    header: list[str], source: str, sc: SourceConfig, others: dict[str, SourceConfig], config_name: str
) -> list[str]:
    """Stop a delivery whose columns are not the ones the config maps; return notes on extras."""
    expected = list(sc.columns.values())
    have = set(header)
    missing = [c for c in expected if c not in have]
    extra = [c for c in header if c not in set(expected) and c != "_row"]
    if missing and len(missing) * 2 >= len(expected):
        best = max(
            (
                (len(set(o.columns.values()) & have) / max(1, len(o.columns)), name)
                for name, o in others.items()
            ),
            default=(0.0, ""),
        )
        if best[0] >= 0.8 and best[1] != source:
            raise DeliveryStop(
                "wrong_file",
                f"this is not a {source} extract: its header matches the {best[1]} extract "
                f"({round(best[0] * 100)}% of its columns); check which file was sent where",
            )
    if missing:
        field = next(f for f, c in sc.columns.items() if c == missing[0])
        hint = difflib.get_close_matches(missing[0], extra, n=1, cutoff=0.5)
        renamed = f"; the file has {hint[0]!r} instead (renamed?)." if hint else "."
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DeliveryStop(
            "renamed_column" if hint else "missing_column",
            f"column {missing[0]!r}{more} is missing from the file{renamed} The config maps it to "
            f"{field!r} ({config_name}: sources.{source}.columns.{field})",
        )
    return [f"column {c!r} is not in the config's mapping and was ignored" for c in extra]


def stage_select(source_columns: dict[str, str], contract: Contract, rel: str) -> str:
    """Raw text of every contract field, renamed to the contract's names (NULL when unmapped)."""
    parts = []
    for f in contract.fields:
        col = source_columns.get(f.name)
        parts.append(
            f"{sql.ident(col)} AS {sql.ident(f.name)}" if col else f"NULL::VARCHAR AS {sql.ident(f.name)}"
        )
    return f"SELECT {', '.join(parts)}, _row FROM {rel}"


def _mapped(r: str, codes: dict[str, str]) -> tuple[str, str]:
    whens = " ".join(f"WHEN {r} = {sql.string(k)} THEN {sql.string(v)}" for k, v in codes.items() if k != "")
    blank = sql.string(codes[""]) if "" in codes else "NULL"
    keys = ", ".join(sql.string(k) for k in codes if k != "") or "''"
    clean = f"CASE WHEN {r} IS NULL THEN {blank} {whens} END"
    bad = f"CASE WHEN {r} IS NOT NULL AND {r} NOT IN ({keys}) THEN 'unmapped_code' END"
    return clean, bad


def _spaces(x: str) -> str:
    """Runs of whitespace become one space; the regex runs only on values that have a run."""
    runs = " OR ".join(f"contains({x}, {c})" for c in ("'  '", "chr(9)", "chr(10)", "chr(13)"))
    return f"CASE WHEN {runs} THEN regexp_replace({x}, '\\s+', ' ', 'g') ELSE {x} END"


def _clean(f: Field, r: str, date_format: str | None) -> tuple[str, str | None]:
    """The clean value of raw text r for a field, and the rule when it does not parse."""
    t = f.logical_type
    if t == "date":
        formats = [date_format] if date_format else []
        formats += [x for x in DATE_FORMATS if x not in formats]
        fmts = ", ".join(sql.string(x) for x in formats)
        v = f"CAST(try_strptime({r}, [{fmts}]) AS DATE)"
        return v, "unparseable_date"
    if t == "number":
        txt = r
        for old, new in (("£", ""), (",", ""), (" ", ""), ("(", "-"), (")", "")):  # "(12.50)" is -12.50
            txt = f"replace({txt}, {sql.string(old)}, {sql.string(new)})"
        return f"TRY_CAST({txt} AS DECIMAL(14,2))", "not_a_number"
    if t == "integer":
        return f"TRY_CAST(regexp_replace({r}, '\\.0+$', '') AS BIGINT)", "not_an_integer"
    if t == "boolean":
        yes, no = ", ".join(map(sql.string, TRUE)), ", ".join(map(sql.string, FALSE))
        v = f"CASE WHEN lower({r}) IN ({yes}) THEN true WHEN lower({r}) IN ({no}) THEN false END"
        return v, "not_a_boolean"
    kind = f.standardise
    if kind == "postcode":
        s = f"upper(regexp_replace({r}, '[^A-Za-z0-9]', '', 'g'))"
        return (
            f"CASE WHEN length({s}) BETWEEN 5 AND 7 THEN left({s}, -3) || ' ' || right({s}, 3) ELSE {s} END",
            None,
        )
    if kind == "nino":
        return f"upper(regexp_replace({r}, '\\s', '', 'g'))", None
    if kind == "uprn":
        return f"regexp_replace({r}, '\\.0+$', '')", None
    if kind == "name":
        quotes = f"translate({r}, '\u2018\u2019`', '''''''')"
        return f"upper({_spaces(quotes)})", None
    if kind == "address":
        return _spaces(r), None
    return r, None


def dictionary_select(f: Field, sc: SourceConfig, rel: str) -> str:
    """Each distinct text of one field (column k of rel, blank as '') with its clean value
    (`<field>`), the text kept beside it (`<field>__raw`) and the rule when it did not map or parse
    (`<field>__bad`).

    Standardising distinct values instead of rows is what makes a large history cheap: twelve
    million council-tax rows hold a few hundred thousand names and a few thousand dates. The text
    as sent is kept only where it differs from the clean value written as text, so that a name or
    reference sent in its standard form is not stored twice (NULL: as the clean value, or blank)."""
    n = f.name
    raw = "NULLIF(k, '')"
    bad: list[str] = []
    if n in sc.values:
        src, unmapped = _mapped("t", sc.values[n])
        bad.append(unmapped)
    else:
        src = "t"
    clean, rule = _clean(f, "src", sc.date_format)
    if rule:
        bad.append(f"CASE WHEN src IS NOT NULL AND v IS NULL THEN {sql.string(rule)} END")
    rule_sql = ("coalesce(" + ", ".join(bad) + ")") if bad else "NULL::VARCHAR"
    kept = "CASE WHEN raw IS DISTINCT FROM CAST(v AS VARCHAR) THEN raw END"
    return (
        f"SELECT k, v AS {sql.ident(n)}, {kept} AS {sql.ident(n + '__raw')}, "
        f"{rule_sql} AS {sql.ident(n + '__bad')} "
        f"FROM (SELECT k, t, raw, src, {clean} AS v FROM "
        f"(SELECT k, t, raw, {src} AS src FROM "
        f"(SELECT k, {raw} AS raw, NULLIF(trim(k), '') AS t FROM {rel})))"
    )


def row_hash(contract: Contract, file: str) -> str:
    """A hash of a staged row's fields and its file, computed once as it is staged, so that
    finding repeated rows groups one number per row instead of hashing every field again."""
    return f"hash({', '.join(sql.ident(f.name) for f in contract.fields)}, {sql.string(file)})"


def duplicates_select(contract: Contract, rel: str) -> str:
    """Rows that repeat an earlier row of the same delivery, field for field. Rows are grouped
    by their hash (`_h`) first; only rows whose hash repeats are compared exactly."""
    cols = ", ".join(sql.ident(f.name) for f in contract.fields)
    return (
        f"WITH rep AS (SELECT _h FROM {rel} GROUP BY _h HAVING count(*) > 1), "
        f"cand AS (SELECT * FROM {rel} s SEMI JOIN rep ON rep._h = s._h) "
        f"SELECT _file, _row, first_row FROM (SELECT _file, _row, "
        f"min(_row) OVER (PARTITION BY _file, {cols}) AS first_row FROM cand) WHERE _row > first_row"
    )
