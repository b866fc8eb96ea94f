"""Faults that real council extracts carry, injected at stated rates and written to a ledger.

Each fault is one bit; FAULT_BITS is the legend. The ledger's `faults` column is about the
row and its main person (claimant, applicant, child, first liable person); `faults_2` is about
the second person a row names (partner, second tenant or liable person, carers). Each name
draws its own faults at the stated rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskflag.synth.names import NICKNAMES

FAULT_BITS: dict[str, int] = {
    "name_typo": 1 << 0,
    "nickname": 1 << 1,
    "name_swap": 1 << 2,
    "dob_missing": 1 << 3,
    "dob_transposed": 1 << 4,
    "postcode_format": 1 << 5,
    "address_variant": 1 << 6,
    "stale_address": 1 << 7,
    "duplicate_row": 1 << 8,
    "late_known": 1 << 9,
    "impossible_value": 1 << 10,
    "date_format": 1 << 11,
    "money_as_text": 1 << 12,
    "charset_folded": 1 << 13,
}
NO_DATE = -(2**40)  # a missing date of birth (days since 1970 are negative before 1970)


@dataclass(frozen=True)
class FaultRates:
    """Default rates per record of a source that carries the field (synthetic-council.md)."""

    name_typo: float = 0.04
    nickname: float = 0.05
    name_swap: float = 0.01
    dob_missing: float = 0.05
    dob_missing_council_tax: float = 0.60
    dob_transposed: float = 0.01
    postcode_format: float = 0.25
    address_variant: float = 0.40
    stale_address: float = 0.30
    duplicate_row: float = 0.005
    late_known: float = 0.08
    impossible_value: float = 0.002
    date_format: float = 0.05
    money_as_text: float = 0.10


def typo(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """Drop, swap or double one letter."""
    out = names.copy()
    kind = rng.integers(0, 3, names.size)
    pos_u = rng.random(names.size)
    for i, s in enumerate(names):
        if len(s) < 3:
            out[i] = s + s[-1:]
            continue
        p = 1 + int(pos_u[i] * (len(s) - 2))
        if kind[i] == 0:
            out[i] = s[:p] + s[p + 1 :]
        elif kind[i] == 1:
            out[i] = s[: p - 1] + s[p] + s[p - 1] + s[p + 1 :] if s[p] != s[p - 1] else s[:p] + s[p] + s[p:]
        else:
            out[i] = s[:p] + s[p] + s[p:]
    return out


def apply_names(
    rng: np.random.Generator, rates: FaultRates, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Typos, nicknames and swapped fields on a pair of name columns."""
    n = first.size
    bits = np.zeros(n, np.int32)
    first, last = first.astype(object).copy(), last.astype(object).copy()
    has_nick = np.asarray([f in NICKNAMES for f in first], bool)
    nick = has_nick & (rng.random(n) < rates.nickname)
    if nick.any():
        first[nick] = [NICKNAMES[f][rng.integers(len(NICKNAMES[f]))] for f in first[nick]]
        bits[nick] |= FAULT_BITS["nickname"]
    ty = rng.random(n) < rates.name_typo
    if ty.any():
        on_first = rng.random(n) < 0.5
        a, b = ty & on_first, ty & ~on_first
        first[a] = typo(rng, first[a])
        last[b] = typo(rng, last[b])
        bits[ty] |= FAULT_BITS["name_typo"]
    sw = (rng.random(n) < rates.name_swap) & (first != last)
    first[sw], last[sw] = last[sw], first[sw].copy()
    bits[sw] |= FAULT_BITS["name_swap"]
    return first, last, bits


def apply_dob(
    rng: np.random.Generator, rates: FaultRates, dob: np.ndarray, missing_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Dates of birth (days since 1970) with missing and day-month transposed values (NO_DATE)."""
    n = dob.size
    bits = np.zeros(n, np.int32)
    d = pd.to_datetime(dob, unit="D")
    out = dob.astype(np.int64).copy()
    small = (d.day <= 12) & (d.month <= 12) & (d.day != d.month)
    tr = np.asarray(small) & (rng.random(n) < rates.dob_transposed)
    if tr.any():
        swapped = (
            pd.to_datetime({"year": d.year[tr], "month": d.day[tr], "day": d.month[tr]})
            .to_numpy()
            .astype("datetime64[D]")
            .astype(np.int64)
        )
        out[tr] = swapped
        bits[tr] |= FAULT_BITS["dob_transposed"]
    miss = rng.random(n) < missing_rate
    out[miss] = NO_DATE
    bits[miss] |= FAULT_BITS["dob_missing"]
    bits[miss] &= ~FAULT_BITS["dob_transposed"]
    return out, bits


def postcode(rng: np.random.Generator, rates: FaultRates, pc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = pc.size
    out = pc.astype(object).copy()
    f = rng.random(n) < rates.postcode_format
    kind = rng.random(n) < 0.5
    a, b = f & kind, f & ~kind
    out[a] = [s.replace(" ", "") for s in out[a]]
    out[b] = [s.lower() for s in out[b]]
    return out, np.where(f, FAULT_BITS["postcode_format"], 0).astype(np.int32)


_ABBREV = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Close": "Cl",
    "Lane": "Ln",
    "Drive": "Dr",
    "Gardens": "Gdns",
    "Crescent": "Cres",
    "Court": "Ct",
    "Place": "Pl",
    "Grove": "Gr",
    "Terrace": "Terr",
    "Walk": "Wlk",
}


def address_variant(
    rng: np.random.Generator, sao: np.ndarray, pao: np.ndarray, street: np.ndarray, town: np.ndarray
) -> np.ndarray:
    """'2/10 High St', upper case, the town dropped or repeated with the county."""
    out = np.empty(sao.size, dtype=object)
    kind = rng.integers(0, 4, sao.size)
    for i in range(sao.size):
        st = street[i]
        word = st.rsplit(" ", 1)
        short = f"{word[0]} {_ABBREV.get(word[-1], word[-1])}" if len(word) == 2 else st
        num = f"{sao[i]}/{pao[i]}" if sao[i] else f"{pao[i]}"
        flat = f"Flat {sao[i]}, " if sao[i] else ""
        k = kind[i]
        if k == 0:
            out[i] = f"{num} {short}, {town[i]}"
        elif k == 1:
            out[i] = f"{flat}{pao[i]} {st}, {town[i]}".upper()
        elif k == 2:
            out[i] = f"{flat}{pao[i]} {short}"
        else:
            out[i] = f"{flat}{pao[i]} {st}, {town[i]}, Ashworthshire"
    return out


def fold_to_charset(names: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """Names as a system with a narrower character set stores them ('Łukasz' -> 'Lukasz')."""
    import unicodedata

    out = names.copy()
    bits = np.zeros(names.size, np.int32)
    if encoding.replace("-sig", "") == "utf-8":
        return out, bits
    cache: dict[str, str] = {}
    for i, s in enumerate(names):
        if s not in cache:
            try:
                s.encode(encoding)
                cache[s] = s
            except UnicodeEncodeError:
                plain = "".join(
                    ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch)
                )
                cache[s] = (
                    plain.replace("ł", "l")
                    .replace("Ł", "L")
                    .encode(encoding, errors="replace")
                    .decode(encoding)
                )
        if cache[s] != s:
            out[i] = cache[s]
            bits[i] = FAULT_BITS["charset_folded"]
    return out, bits
