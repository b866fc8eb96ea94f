"""Name pools by ethnic group, nicknames, and National Insurance numbers.

Names come from Faker's locale lists, sampled with numpy rather than through Faker's
per-call API, so that a quarter of a million households take seconds, not minutes.
"""

from __future__ import annotations

import importlib

import numpy as np

# ONS 2021 high-level groups, with the share of England's population (rounded)
ETHNICITY_CODES = ("WBRI", "WIRI", "WOTH", "MIXD", "ASIA", "BLAC", "OTHR")
ETHNICITY_LABELS = (
    "White: English, Welsh, Scottish, Northern Irish or British",
    "White: Irish",
    "White: Other",
    "Mixed or Multiple ethnic groups",
    "Asian or Asian British",
    "Black, Black British, Caribbean or African",
    "Other ethnic group",
)
ETHNICITY_SHARE = (0.735, 0.009, 0.066, 0.030, 0.096, 0.042, 0.022)

_LOCALES = {
    "WBRI": ("en_GB",),
    "WIRI": ("en_IE",),
    "WOTH": ("pl_PL", "ro_RO", "it_IT", "pt_PT"),
    "MIXD": ("en_GB", "yo_NG", "en_IN"),
    "ASIA": ("en_IN",),
    "BLAC": ("yo_NG", "en_GB"),
    "OTHR": ("tr_TR", "pt_PT"),
}

NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "Richard": ("Rick", "Dick", "Rich"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Thomas": ("Tom", "Tommy"),
    "Michael": ("Mike", "Mick"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Joseph": ("Joe",),
    "David": ("Dave",),
    "Andrew": ("Andy", "Drew"),
    "Jonathan": ("Jon",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Alexander": ("Alex",),
    "Nicholas": ("Nick",),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Peter": ("Pete",),
    "Patrick": ("Pat", "Paddy"),
    "Timothy": ("Tim",),
    "Gregory": ("Greg",),
    "Kenneth": ("Ken",),
    "Ronald": ("Ron",),
    "Donald": ("Don",),
    "Terence": ("Terry",),
    "Frederick": ("Fred",),
    "Charles": ("Charlie", "Chas"),
    "Henry": ("Harry",),
    "Elizabeth": ("Liz", "Beth", "Betty"),
    "Margaret": ("Maggie", "Peggy"),
    "Catherine": ("Kate", "Cathy"),
    "Katherine": ("Kate", "Kathy"),
    "Jennifer": ("Jenny", "Jen"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Samantha": ("Sam",),
    "Alexandra": ("Alex",),
    "Deborah": ("Debbie",),
    "Susan": ("Sue",),
    "Patricia": ("Pat", "Trish"),
    "Jacqueline": ("Jackie",),
    "Christine": ("Chris",),
    "Kimberley": ("Kim",),
    "Natalie": ("Nat",),
    "Abigail": ("Abbie",),
    "Eleanor": ("Ellie",),
    "Charlotte": ("Lottie",),
    "Amanda": ("Mandy",),
    "Josephine": ("Jo",),
    "Joanne": ("Jo",),
    "Pamela": ("Pam",),
    "Jessica": ("Jess",),
    "Caroline": ("Carrie",),
    "Gillian": ("Gill",),
}


def _locale_names(locale: str) -> tuple[list[str], list[str], list[str]]:
    prov = importlib.import_module(f"faker.providers.person.{locale}").Provider

    def pick(*attrs: str) -> list[str]:
        for a in attrs:
            v = getattr(prov, a, None)
            if v:
                return [str(x) for x in (v.keys() if isinstance(v, dict) else v)]
        return []

    male = pick("first_names_male", "first_names")
    female = pick("first_names_female", "first_names")
    last = pick("last_names", "last_names_male")
    return male, female, last


class NamePools:
    """Per-group first and last names; Latin script only."""

    def __init__(self) -> None:
        self.male: dict[str, np.ndarray] = {}
        self.female: dict[str, np.ndarray] = {}
        self.last: dict[str, np.ndarray] = {}
        for code, locales in _LOCALES.items():
            m, f, last = [], [], []
            for loc in locales:
                a, b, c = _locale_names(loc)
                m += a
                f += b
                last += c
            if len(set(last)) < 50:  # some locales ship few surnames
                last += _locale_names("en_GB")[2]
            self.male[code] = _latin_unique(m)
            self.female[code] = _latin_unique(f)
            self.last[code] = _latin_unique(last)

    def draw(
        self, rng: np.random.Generator, eth: np.ndarray, sex: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        n = eth.shape[0]
        first = np.empty(n, dtype=object)
        last = np.empty(n, dtype=object)
        for gi, code in enumerate(ETHNICITY_CODES):
            sel = np.flatnonzero(eth == gi)
            if sel.size == 0:
                continue
            male_sel = sel[sex[sel] == 1]
            female_sel = sel[sex[sel] == 0]
            first[male_sel] = _zipf_pick(rng, self.male[code], male_sel.size, TOP_FIRST_NAME_SHARE)
            first[female_sel] = _zipf_pick(rng, self.female[code], female_sel.size, TOP_FIRST_NAME_SHARE)
            last[sel] = _zipf_pick(rng, self.last[code], sel.size, TOP_SURNAME_SHARE)
        return first, last


def _latin_unique(names: list[str]) -> np.ndarray:
    seen = sorted({n.strip() for n in names if n.strip() and all(ord(ch) < 0x250 for ch in n)})
    return np.asarray(seen, dtype=object)


# England and Wales: the commonest surname (Smith) is held by about 1.3% of people; the
# commonest first names by a few per cent of each sex
TOP_SURNAME_SHARE = 0.013
TOP_FIRST_NAME_SHARE = 0.025


def _exponent(k: int, top: float) -> float:
    """The rank-frequency exponent s (weights 1/rank^s) that gives the commonest of k names
    the share `top`; 0 (all equally common) when even that makes it commoner."""
    if 1.0 / k >= top:
        return 0.0
    ranks = np.arange(1, k + 1, dtype=float)
    lo, hi = 0.0, 3.0
    for _ in range(60):
        s = (lo + hi) / 2
        if 1.0 / (ranks**-s).sum() < top:
            lo = s
        else:
            hi = s
    return (lo + hi) / 2


def _zipf_pick(rng: np.random.Generator, pool: np.ndarray, n: int, top: float) -> np.ndarray:
    """Common names are common, as often as in England: rank-frequency weights 1/rank^s with s
    set so that the commonest name has the share `top`. (Too steep a curve makes two people of
    one name far commoner than in life, and linkage harder than any council's.)"""
    k = pool.shape[0]
    order = np.random.default_rng(k).permutation(k)  # a fixed popularity order per pool
    w = 1.0 / np.arange(1, k + 1) ** _exponent(k, top)
    w /= w.sum()
    return pool[order[rng.choice(k, size=n, p=w)]]


_NINO_FIRST = list("ABCEGHJKLMNOPRSTWXYZ")
_NINO_SECOND = list("ABCEGHJKLMNPRSTWXYZ")
_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def nino(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid-format National Insurance numbers (HMRC's prefix rules), e.g. AB123456C."""
    prefixes = np.asarray(
        [a + b for a in _NINO_FIRST for b in _NINO_SECOND if a + b not in _NINO_BAD_PREFIX],
        dtype=object,
    )
    pre = prefixes[rng.integers(0, prefixes.size, n)]
    digits = rng.integers(0, 1_000_000, n)
    suffix = np.asarray(list("ABCD"), dtype=object)[rng.integers(0, 4, n)]
    return np.asarray([f"{p}{d:06d}{s}" for p, d, s in zip(pre, digits, suffix, strict=True)], dtype=object)
