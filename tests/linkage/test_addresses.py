"""Address matching on a small hand-made gazetteer: each case one way a council writes a home."""

from __future__ import annotations

import duckdb
import pytest

from riskflag.linkage.addresses import match_addresses

GAZETTEER = [
    # uprn, flat, number, street, town, postcode
    ("100000000001", None, 10, "High Street", "Ashworth", "AW1 1AA"),
    ("100000000002", "Flat 2", 10, "High Street", "Ashworth", "AW1 1AA"),
    ("100000000003", None, 5, "Mill Lane", "Ashworth", "AW1 2BB"),
    ("100000000004", None, 5, "Mill Lane", "Denholm", "AW4 3CC"),
    ("100000000005", None, 7, "Rowan Gardens", "Denholm", "AW4 4DD"),
]


@pytest.fixture()
def matched() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE llpg (uprn VARCHAR, sao_text VARCHAR, pao_number INTEGER, street VARCHAR, "
        "town VARCHAR, postcode VARCHAR)"
    )
    con.executemany("INSERT INTO llpg VALUES (?, ?, ?, ?, ?, ?)", GAZETTEER)
    con.execute("CREATE TABLE a (address VARCHAR, postcode VARCHAR)")
    con.executemany("INSERT INTO a VALUES (?, ?)", [(t, p) for t, p, _, _ in CASES])
    match_addresses(con, "SELECT * FROM a", "SELECT * FROM llpg", "m", ["Ashworthshire"])
    return con


CASES = [
    # text, postcode, expected uprn, expected reason when unmatched
    ("10 High Street, Ashworth", "AW1 1AA", "100000000001", None),
    ("10 HIGH ST", None, "100000000001", None),
    ("Flat 2, 10 High Street", "AW1 1AA", "100000000002", None),
    ("2/10 High St, Ashworth", None, "100000000002", None),
    ("10 High Street, Ashworth, Ashworthshire", None, "100000000001", None),
    ("7 Rowan Gdns", "AW4 4DD", "100000000005", None),
    ("7 Rowen Gardens", "AW4 4DD", "100000000005", None),  # a typo in the street, the postcode agrees
    ("5 Mill Lane, Denholm", None, "100000000004", None),  # the town decides between two Mill Lanes
    ("5 Mill Lane", None, None, "more than one property fits"),
    ("10 High Street, Leicester", None, None, "names a place outside the borough"),
    ("10 High Street", "LE1 5AB", None, "postcode not in the gazetteer (out of borough?)"),
    ("The Old Barn, High Street", None, None, "no house number found"),
    ("99 High Street", "AW1 1AA", None, "no property fits"),
]


@pytest.mark.parametrize(("text", "postcode", "uprn", "reason"), CASES, ids=[c[0] for c in CASES])
def test_address_case(
    matched: duckdb.DuckDBPyConnection, text: str, postcode: str | None, uprn: str | None, reason: str | None
) -> None:
    got = matched.execute(
        "SELECT uprn, unmatched_reason FROM m WHERE address = ? AND postcode IS NOT DISTINCT FROM ?",
        [text, postcode],
    ).fetchall()
    assert got == [(uprn, reason)]


def test_every_address_is_kept(matched: duckdb.DuckDBPyConnection) -> None:
    assert matched.execute("SELECT count(*) FROM m").fetchall()[0][0] == len(CASES)
