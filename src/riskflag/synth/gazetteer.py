"""The borough's properties: a generated Local Land and Property Gazetteer.

Tenure belongs to the property (council stock stays council stock), so deprived LSOAs,
which hold more social and private rented homes, house more of the risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskflag.synth.chain import OWNER, PRIVATE, SOCIAL

TOWNS = ("Ashworth", "Brackenfield", "Carrow Green", "Denholm", "Elmstead")
POSTCODE_AREA = "AW"
SUFFIXES = (
    ("Road", "Rd"),
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Close", "Cl"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Gardens", "Gdns"),
    ("Crescent", "Cres"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Grove", "Gr"),
    ("Terrace", "Terr"),
    ("Way", "Way"),
    ("Walk", "Wlk"),
)
STEMS = (
    "Abbey",
    "Alder",
    "Ash",
    "Beech",
    "Birch",
    "Bridge",
    "Brook",
    "Castle",
    "Cedar",
    "Chapel",
    "Cherry",
    "Church",
    "Clifton",
    "Coronation",
    "Cromwell",
    "Elm",
    "Fairfield",
    "Ferndale",
    "Field",
    "Forest",
    "George",
    "Glebe",
    "Grange",
    "Hawthorn",
    "Hazel",
    "Highfield",
    "High",
    "Hill",
    "Holly",
    "Kings",
    "Lime",
    "Linden",
    "Manor",
    "Maple",
    "Meadow",
    "Mill",
    "Moor",
    "Myrtle",
    "Newton",
    "North",
    "Oak",
    "Orchard",
    "Park",
    "Priory",
    "Queens",
    "Rectory",
    "Riverside",
    "Rowan",
    "St Johns",
    "St Marys",
    "School",
    "Spring",
    "Station",
    "Stanley",
    "Sycamore",
    "Victoria",
    "Water",
    "Well",
    "West",
    "Willow",
    "Windsor",
    "Wood",
    "York",
    "Albert",
    "Alexandra",
    "Balmoral",
    "Beaconsfield",
    "Belmont",
    "Blenheim",
    "Brunswick",
    "Cambridge",
    "Canal",
    "Chestnut",
    "Clarence",
    "Dale",
    "Derwent",
    "Eastfield",
    "Gladstone",
    "Granville",
    "Harcourt",
    "Heather",
    "Ivy",
    "Jubilee",
    "Kingsway",
    "Lancaster",
    "Laurel",
    "Lodge",
    "Marlborough",
    "Melbourne",
    "Nelson",
    "Osborne",
    "Palmerston",
    "Pembroke",
    "Primrose",
    "Regent",
    "Rosebery",
    "Sandringham",
    "Shaftesbury",
    "Somerset",
    "Stafford",
    "Sunningdale",
    "Thornhill",
    "Trinity",
    "Tudor",
    "Vicarage",
    "Wellington",
    "Westbourne",
)
OTHER_AREAS = ("LE", "NR", "CB", "PE", "MK", "LU", "SG", "CM", "CO", "IP")
PROPERTY_CLASSES = {
    "RD02": "detached",
    "RD03": "semi-detached",
    "RD04": "terraced",
    "RD06": "self-contained flat",
    "RH02": "house in multiple occupation",
}


@dataclass
class Gazetteer:
    props: pd.DataFrame  # one row per property, index = property number
    lsoas: pd.DataFrame  # one row per LSOA


def build(rng: np.random.Generator, n_props: int, tenure_mix: tuple[float, float, float]) -> Gazetteer:
    n_lsoa = max(4, round(n_props / 650))
    lsoa_codes = np.asarray([f"E01{900000 + i:06d}" for i in range(n_lsoa)])
    imd = np.clip(np.round(rng.normal(5.0, 2.6, n_lsoa)), 1, 10).astype(int)
    rank_income = np.argsort(np.argsort(imd + rng.normal(0, 1.2, n_lsoa))) + 1
    rank_employment = np.argsort(np.argsort(imd + rng.normal(0, 1.5, n_lsoa))) + 1
    ward_of = np.arange(n_lsoa) // 6
    n_wards = int(ward_of.max()) + 1
    ward_codes = np.asarray([f"E05{900000 + i:06d}" for i in range(n_wards)])
    ward_names = np.asarray(
        [
            f"{STEMS[(7 * i) % len(STEMS)]} {('Ward', 'North', 'South', 'East', 'West', 'Central')[i % 6]}"
            for i in range(n_wards)
        ]
    )
    town_of_ward = np.arange(n_wards) % len(TOWNS)
    lsoas = pd.DataFrame(
        {
            "lsoa": lsoa_codes,
            "imd_decile": imd,
            "income_rank": rank_income,
            "employment_rank": rank_employment,
            "ward_code": ward_codes[ward_of],
            "ward_name": ward_names[ward_of],
            "town": np.asarray(TOWNS)[town_of_ward[ward_of]],
        }
    )

    # properties per LSOA (roughly even), tenure shifted towards renting in deprived LSOAs
    lsoa_of = np.sort(rng.integers(0, n_lsoa, n_props))
    dep = (10 - imd[lsoa_of]) / 9.0  # 1 = most deprived
    own, priv, soc = tenure_mix
    logits = np.stack(
        [
            np.full(n_props, np.log(own)) - 1.2 * dep,
            np.full(n_props, np.log(priv)) + 0.3 * dep,
            np.full(n_props, np.log(soc)) + 1.1 * dep,
        ],
        axis=1,
    )
    pr = np.exp(logits - logits.max(axis=1, keepdims=True))
    pr /= pr.sum(axis=1, keepdims=True)
    # re-centre on the stated national mix
    for _ in range(20):
        pr *= np.asarray(tenure_mix) / pr.mean(axis=0)
        pr /= pr.sum(axis=1, keepdims=True)
    tenure = (rng.random(n_props)[:, None] > np.cumsum(pr, axis=1)).sum(axis=1).clip(0, 2)
    tenure = np.asarray([OWNER, PRIVATE, SOCIAL])[tenure]

    cls = np.where(
        tenure == OWNER,
        rng.choice(["RD02", "RD03", "RD04", "RD06"], n_props, p=[0.25, 0.35, 0.3, 0.1]),
        np.where(
            tenure == PRIVATE,
            rng.choice(["RD03", "RD04", "RD06", "RH02"], n_props, p=[0.15, 0.35, 0.42, 0.08]),
            rng.choice(["RD03", "RD04", "RD06"], n_props, p=[0.15, 0.3, 0.55]),
        ),
    )
    # streets: ~40 addresses each, within an LSOA; flats share a building number
    street_of = np.zeros(n_props, dtype=int)
    pao = np.zeros(n_props, dtype=int)
    sao = np.zeros(n_props, dtype=int)
    street_names: list[str] = []
    used: set[str] = set()
    start = 0
    for li in range(n_lsoa):
        idx = np.flatnonzero(lsoa_of == li)
        for chunk in np.array_split(idx, max(1, round(idx.size / 40))):
            while True:
                stem = STEMS[rng.integers(len(STEMS))]
                suf = SUFFIXES[rng.integers(len(SUFFIXES))][0]
                name = f"{stem} {suf}"
                if name not in used or len(used) > len(STEMS) * len(SUFFIXES) * 0.7:
                    break
            used.add(name)
            street_names.append(name)
            sid = len(street_names) - 1
            street_of[chunk] = sid
            number, flat = 1, 0
            for p in chunk:
                if cls[p] == "RD06":
                    flat += 1
                    sao[p] = flat
                    pao[p] = number
                    if flat >= rng.integers(2, 9):
                        flat = 0
                        number += 1
                else:
                    if flat:
                        flat = 0
                        number += 1
                    pao[p] = number
                    number += 1
        start += idx.size
    streets = np.asarray(street_names, dtype=object)
    # postcodes: a district per ward, a unit per ~15 addresses along a street
    district = np.asarray([f"{POSTCODE_AREA}{(w % 20) + 1}" for w in range(n_wards)])
    unit_letters = "ABDEFGHJLNPQRSTUWXYZ"
    pc = np.empty(n_props, dtype=object)
    ward_p = ward_of[lsoa_of]
    codes_used: set[str] = set()
    for sid in range(len(streets)):
        idx = np.flatnonzero(street_of == sid)
        for k, chunk in enumerate(np.array_split(idx, max(1, round(idx.size / 15)))):
            while True:
                code = (
                    f"{district[ward_p[chunk[0]]]} {rng.integers(1, 10)}"
                    f"{unit_letters[rng.integers(20)]}{unit_letters[rng.integers(20)]}"
                )
                if code not in codes_used:
                    break
            codes_used.add(code)
            pc[chunk] = code
            del k
    uprn = 100_000_000_000 + rng.choice(899_999_999_999, size=n_props, replace=False)
    town = lsoas["town"].to_numpy()[lsoa_of]
    props = pd.DataFrame(
        {
            "uprn": uprn.astype(np.int64),
            "sao": sao,
            "pao": pao,
            "street": streets[street_of],
            "town": town,
            "postcode": pc,
            "lsoa": lsoa_codes[lsoa_of],
            "lsoa_idx": lsoa_of,
            "ward_code": lsoas["ward_code"].to_numpy()[lsoa_of],
            "class_code": cls,
            "tenure": tenure.astype(np.int8),
            "imd_decile": imd[lsoa_of],
            "band": np.clip(rng.normal(2.5 - 1.5 * dep + 1.0 * (tenure == OWNER), 1.0), 0, 7)
            .round()
            .astype(int),
        }
    )
    props["address"] = address_lines(props)
    return Gazetteer(props=props, lsoas=lsoas)


def address_lines(props: pd.DataFrame) -> np.ndarray:
    """Canonical one-line address: 'Flat 2, 10 High Street, Ashworth'."""
    flat = np.where(props["sao"].to_numpy() > 0, "Flat " + props["sao"].astype(str) + ", ", "")
    return (flat + props["pao"].astype(str) + " " + props["street"] + ", " + props["town"]).to_numpy()


def out_of_borough_addresses(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Addresses elsewhere in England (no UPRN in this borough's gazetteer)."""
    towns = (
        "Leicester",
        "Norwich",
        "Cambridge",
        "Peterborough",
        "Milton Keynes",
        "Luton",
        "Stevenage",
        "Chelmsford",
        "Colchester",
        "Ipswich",
    )
    k = rng.integers(0, len(towns), n)
    stems = np.asarray(STEMS, dtype=object)[rng.integers(0, len(STEMS), n)]
    sufs = np.asarray([s[0] for s in SUFFIXES], dtype=object)[rng.integers(0, len(SUFFIXES), n)]
    num = rng.integers(1, 200, n)
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    addr = np.asarray(
        [f"{a} {b} {c}, {towns[t]}" for a, b, c, t in zip(num, stems, sufs, k, strict=True)], dtype=object
    )
    pcs = np.asarray(
        [
            f"{OTHER_AREAS[t]}{rng.integers(1, 30)} {rng.integers(1, 10)}"
            f"{letters[rng.integers(20)]}{letters[rng.integers(20)]}"
            for t in k
        ],
        dtype=object,
    )
    return addr, pcs
