"""Free-text addresses onto the gazetteer's UPRNs.

Councils type the same home as "Flat 2, 10 High Street", "2/10 HIGH ST" or "10 High St,
Town, County". Each text is parsed into (flat, number, street, localities) with the street's
suffix spelled out, and the gazetteer is parsed the same way, so that matching is an equality
join on what the two agree about plus a check of what else the text says:

- a postcode, when given, must be the property's own: a wrong postcode is a different place,
  and an out-of-borough postcode is never in the gazetteer;
- without a postcode, every locality the text names must be one of the borough's towns (or a
  configured name such as the county) and the property's town when it names one, and the
  parsed address must name exactly one property;
- when the postcode is given but the street is spelled differently, the property with the same
  number and flat in that postcode whose street is closest (Jaro-Winkler) is taken if it is
  close enough.

Unmatched addresses are kept with the reason, never dropped: a person whose address is not in
the borough is still a person.
"""

from __future__ import annotations

import duckdb

from riskflag.core import sql

SUFFIXES = {
    "RD": "ROAD",
    "ST": "STREET",
    "STR": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "AVEN": "AVENUE",
    "CL": "CLOSE",
    "CLS": "CLOSE",
    "LN": "LANE",
    "DR": "DRIVE",
    "DRV": "DRIVE",
    "GDNS": "GARDENS",
    "GDN": "GARDENS",
    "GNS": "GARDENS",
    "CRES": "CRESCENT",
    "CRS": "CRESCENT",
    "CRESC": "CRESCENT",
    "CT": "COURT",
    "CRT": "COURT",
    "PL": "PLACE",
    "GR": "GROVE",
    "GRO": "GROVE",
    "GRV": "GROVE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "TCE": "TERRACE",
    "WY": "WAY",
    "WLK": "WALK",
    "WK": "WALK",
    "PK": "PARK",
    "SQ": "SQUARE",
    "HTS": "HEIGHTS",
    "MWS": "MEWS",
    "PDE": "PARADE",
    "BLVD": "BOULEVARD",
    "HL": "HILL",
    "GRN": "GREEN",
    "CNR": "CORNER",
    "RISE": "RISE",
    "ROW": "ROW",
    "VW": "VIEW",
    "CLOS": "CLOSE",
}
STREET_SIMILARITY = 0.9


def _suffixes_values() -> str:
    return ", ".join(f"({sql.string(a)}, {sql.string(b)})" for a, b in SUFFIXES.items())


def normalised(expr: str) -> str:
    """Upper case without accents or punctuation (commas and slashes kept: they carry structure)."""
    e = f"upper(strip_accents(coalesce({expr}, '')))"
    e = f"regexp_replace({e}, '[^A-Z0-9/, ]', ' ', 'g')"
    e = f"regexp_replace({e}, '\\s*,\\s*', ',', 'g')"
    return f"trim(regexp_replace({e}, '\\s+', ' ', 'g'), ' ,')"


def parsed_select(rel: str, text: str) -> str:
    """(text, flat, number, street, localities) for each distinct text of rel: 'FLAT 2,10 X',
    '2/10 X' and '10 X' forms; the street's last word spelled out."""
    pattern = r"^(?:FLAT ([0-9A-Z]+),? ?|([0-9A-Z]+)/)?([0-9]+[A-Z]?) ([^,]+)(?:,(.*))?$"
    return f"""
        WITH t AS (SELECT DISTINCT {text} AS text FROM {rel} WHERE {text} IS NOT NULL),
        p AS (SELECT text, regexp_extract({normalised("text")}, {sql.string(pattern)},
                 ['flat', 'flat2', 'num', 'street', 'rest']) AS m FROM t),
        s AS (SELECT text, coalesce(nullif(m.flat, ''), nullif(m.flat2, '')) AS flat,
                 nullif(m.num, '') AS number, string_split(m.street, ' ') AS words,
                 list_filter(string_split(m.rest, ','), lambda x: x <> '') AS localities FROM p)
        SELECT text, flat, number,
               CASE WHEN number IS NULL THEN NULL ELSE array_to_string(
                   words[:-2] || [coalesce(sx.word, words[-1])], ' ') END AS street, localities
        FROM s LEFT JOIN (VALUES {_suffixes_values()}) sx(abbrev, word) ON sx.abbrev = s.words[-1]
    """


def gazetteer_select(llpg: str) -> str:
    """The gazetteer's properties in the parsed form of an address."""
    flat = normalised("sao_text")
    return f"""
        SELECT uprn, nullif(regexp_replace({flat}, '^FLAT ', ''), '') AS flat,
               CAST(pao_number AS VARCHAR) AS number, {normalised("street")} AS street,
               {normalised("town")} AS town, postcode
        FROM ({llpg}) WHERE uprn IS NOT NULL
    """


def match_addresses(
    con: duckdb.DuckDBPyConnection,
    addresses: str,
    llpg: str,
    out: str,
    extra_localities: list[str],
) -> None:
    """Write table `out`: one row per distinct (address, postcode) of relation `addresses`, with
    the matched uprn (NULL when none), the method and, when unmatched, why."""
    extra = ", ".join(f"({sql.string(x)})" for x in extra_localities) or "(NULL)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gaz AS {gazetteer_select(llpg)}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _addr AS SELECT DISTINCT address, postcode FROM "
        f"({addresses}) WHERE address IS NOT NULL"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _parsed AS {parsed_select('_addr', 'address')}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _towns AS SELECT DISTINCT town AS locality FROM _gaz "
        f"UNION SELECT {normalised('x')} FROM (VALUES {extra}) v(x) WHERE x IS NOT NULL"
    )
    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH a AS (
            SELECT a.address, a.postcode, p.flat, p.number, p.street, p.localities,
                   list_filter(p.localities, lambda x: list_contains(tw.towns, x)) AS known
            FROM _addr a LEFT JOIN _parsed p ON p.text = a.address
            CROSS JOIN (SELECT list(locality) AS towns FROM _towns) tw
        ),
        exact AS (
            SELECT a.address, a.postcode, g.uprn, g.postcode AS g_postcode, g.town,
                   a.localities, a.known
            FROM a JOIN _gaz g ON g.number = a.number AND g.street = a.street
                 AND g.flat IS NOT DISTINCT FROM a.flat
        ),
        by_postcode AS (
            SELECT address, postcode, min(uprn) AS uprn, 'postcode' AS method
            FROM exact WHERE postcode IS NOT NULL AND g_postcode = postcode
            GROUP BY ALL HAVING count(*) = 1
        ),
        by_town AS (
            SELECT address, postcode, min(uprn) AS uprn, 'street_and_town' AS method
            FROM exact WHERE postcode IS NULL AND len(known) = len(localities)
                 AND (len(known) = 0 OR list_contains(known, town))
            GROUP BY ALL HAVING count(*) = 1
        ),
        fuzzy AS (
            SELECT address, postcode, arg_max(uprn, sim) AS uprn, 'postcode_similar_street' AS method
            FROM (SELECT a.address, a.postcode, g.uprn, jaro_winkler_similarity(a.street, g.street) AS sim
                  FROM a JOIN _gaz g ON g.postcode = a.postcode AND g.number = a.number
                       AND g.flat IS NOT DISTINCT FROM a.flat
                  WHERE a.street IS NOT NULL)
            WHERE sim >= {STREET_SIMILARITY} GROUP BY ALL
        ),
        found AS (
            SELECT * FROM by_postcode
            UNION ALL SELECT * FROM by_town
            UNION ALL SELECT * FROM fuzzy f WHERE NOT EXISTS (SELECT 1 FROM by_postcode b
                WHERE b.address = f.address AND b.postcode IS NOT DISTINCT FROM f.postcode)
        )
        SELECT a.address, a.postcode, f.uprn, f.method,
               CASE WHEN f.uprn IS NOT NULL THEN NULL
                    WHEN a.number IS NULL THEN 'no house number found'
                    WHEN a.postcode IS NOT NULL AND a.postcode NOT IN (SELECT postcode FROM _gaz)
                        THEN 'postcode not in the gazetteer (out of borough?)'
                    WHEN len(a.known) < len(a.localities) THEN 'names a place outside the borough'
                    WHEN (SELECT count(*) FROM exact e WHERE e.address = a.address) > 1
                        THEN 'more than one property fits'
                    ELSE 'no property fits' END AS unmatched_reason
        FROM a LEFT JOIN found f ON f.address = a.address AND f.postcode IS NOT DISTINCT FROM a.postcode
    """)
    con.execute("DROP TABLE _gaz; DROP TABLE _addr; DROP TABLE _parsed; DROP TABLE _towns")
