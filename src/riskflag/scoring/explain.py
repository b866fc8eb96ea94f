"""Reasons a caseworker can act on: the model's exact contributions, grouped into families of
features, shown only where a source record backs them, in the council's own words.

Contributions are LightGBM's TreeSHAP (`pred_contrib`) at the iteration the model scores with,
so per household they and the base value add up to the raw score the list is ranked by.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from riskflag.errors import UserError
from riskflag.features import FEATURES
from riskflag.modeling import RiskModel
from riskflag.scoring.evidence import ADVERSE


@dataclass(frozen=True)
class Family:
    name: str
    features: tuple[str, ...]
    reason: str
    protective: str | None
    support: tuple[str, ...]


def load_reasons(path: Path) -> dict[str, Family]:
    """The council's reason templates; every model feature must belong to exactly one family and
    a template may use only the fields its family's evidence provides."""
    if not path.is_file():
        raise UserError(f"{path}: no reasons file (nightly.reasons_file in the council config)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))["families"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: expected a 'families' mapping ({exc})".splitlines()[0]) from None
    fams: dict[str, Family] = {}
    for name, spec in raw.items():
        if name not in FIELDS:
            raise UserError(f"{path}: families.{name}: unknown family; expected one of {', '.join(FIELDS)}")
        for key in ("reason", "protective"):
            text = spec.get(key)
            used = {f for _, f, _, _ in string.Formatter().parse(text or "") if f}
            if used - FIELDS[name]:
                raise UserError(
                    f"{path}: families.{name}.{key}: unknown field {{{sorted(used - FIELDS[name])[0]}}}; "
                    f"this family has {', '.join(sorted(FIELDS[name])) or 'none'}"
                )
        fams[name] = Family(
            name,
            tuple(spec["features"]),
            spec["reason"],
            spec.get("protective"),
            tuple(spec.get("support", [])),
        )
    seen = [f for fam in fams.values() for f in fam.features]
    missing = sorted(set(FEATURES) - set(seen))
    doubled = sorted({f for f in seen if seen.count(f) > 1})
    if missing or doubled:
        what = (
            f"feature {missing[0]} is in no family" if missing else f"feature {doubled[0]} is in two families"
        )
        raise UserError(f"{path}: {what}")
    return fams


def day(d: Any) -> str:
    d = pd.Timestamp(d)
    return f"{d.day} {d:%b %Y}"


def money(x: float) -> str:
    return f"£{x:,.0f}" if x >= 0 else f"£{-x:,.0f} in credit"


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _council_tax(e: dict) -> dict:
    a, b = float(e["arrears"]), float(e["arrears_3m"])
    trend = (
        "unchanged over three months"
        if a == b
        else (f"{'up' if a > b else 'down'} from {money(b)} three months ago")
    )
    return {"arrears_text": money(a), "trend": trend, "stage": str(e["stage"]).replace("_", " ")}


def _rent(e: dict) -> dict:
    notice = ""
    if pd.notna(e["eviction_date"]):
        notice = f"; eviction date {day(e['eviction_date'])}"
    elif pd.notna(e["possession_order_date"]):
        notice = f"; possession order {day(e['possession_order_date'])}"
    elif pd.notna(e["nosp_date"]):
        notice = f"; Notice of Seeking Possession served {day(e['nosp_date'])}"
    weeks = float(e["weeks"]) if pd.notna(e["weeks"]) else 0.0
    return {"arrears_text": money(float(e["arrears"])), "weeks": f"{weeks:.1f}", "notice": notice}


def _benefits(e: dict) -> dict:
    if pd.isna(e.get("events")):
        return {}
    return {
        "event": ADVERSE[e["event_type"]],
        "event_date": day(e["event_date"]),
        "events": count(int(e["events"]), "adverse benefit event"),
    }


def _education(e: dict) -> dict:
    parts = []
    if pd.notna(e["exclusion_date"]):
        parts.append(f"excluded on {day(e['exclusion_date'])}")
    if e["suspensions"]:
        parts.append(f"{count(int(e['suspensions']), 'suspension')} in the last year")
    if e["absent"]:
        parts.append("persistently absent in the latest term")
    return {"school": "; ".join(parts)}


def _household(e: dict) -> dict:
    parts = []
    if int(e["members"]) != int(e["members_then"]):
        parts.append(
            f"{int(e['members_then'])} people at the address six months ago, {int(e['members'])} now"
        )
    if pd.notna(e["moved_in"]):
        parts.append(f"moved in on {day(e['moved_in'])}")
    return {"change": "; ".join(parts)}


FORMAT = {
    "council_tax": _council_tax,
    "rent": _rent,
    "benefits": _benefits,
    "prior_homelessness": lambda e: {
        "approaches": times(int(e["approaches"])),
        "approach_date": day(e["approach_date"]),
    },
    "housing_advice": lambda e: {
        "advice_date": day(e["advice_date"]),
        "advice_reason": str(e["advice_reason"]).replace("_", " "),
        "advices": count(int(e["advices"]), "advice request"),
    },
    "childrens_services": lambda e: {
        "category": str(e["category"]).replace("_", " "),
        "referral_date": day(e["referral_date"]),
        "referrals": count(int(e["referrals"]), "referral"),
    },
    "adult_social_care": lambda e: {
        "start_date": day(e["start_date"]),
        "support_reason": str(e["support_reason"]).replace("_", " "),
    },
    "asb": lambda e: {
        "incidents": count(int(e["incidents"]), "anti-social behaviour incident"),
        "incident_date": day(e["incident_date"]),
    },
    "education": _education,
    "household": _household,
    "bereavement": lambda e: {"death_date": day(e["death_date"])},
    "area": lambda e: {"decile": int(e["decile"])},
    "services": lambda e: {"services": int(e["services"])},
}
FIELDS: dict[str, set[str]] = {
    "council_tax": {"arrears_text", "trend", "stage"},
    "rent": {"arrears_text", "weeks", "notice"},
    "benefits": {"event", "event_date", "events"},
    "prior_homelessness": {"approaches", "approach_date"},
    "housing_advice": {"advice_date", "advice_reason", "advices"},
    "childrens_services": {"category", "referral_date", "referrals"},
    "adult_social_care": {"start_date", "support_reason"},
    "asb": {"incidents", "incident_date"},
    "education": {"school"},
    "household": {"change"},
    "bereavement": {"death_date"},
    "area": {"decile"},
    "services": {"services"},
}


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray | list):
        return [str(x) for x in v]
    if isinstance(v, pd.Timestamp | date):
        return pd.Timestamp(v).date().isoformat()
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v


def _item(fam: Family, template: str, e: dict, contribution: float) -> dict:
    fields = FORMAT[fam.name](e)
    text = template.format(**fields)
    return {
        "family": fam.name,
        "text": f"{text} ({e['source']}, known {day(e['known'])})",
        "source": e["source"],
        "records": _plain(e["records"]),
        "known": _plain(e["known"]),
        "contribution": round(float(contribution), 6),
        "evidence": {k: _plain(v) for k, v in e.items() if k not in ("concern", "strength", "records")},
    }


def _yes(v: Any) -> bool:
    """A record shows it: NULL (a value the record does not hold) is not a yes."""
    return False if pd.isna(v) else bool(v)


@dataclass
class Explained:
    contributions: np.ndarray  # households x (features + base value)
    table: pd.DataFrame  # household_id, reasons, protective, support, base_value


def explain(
    model: RiskModel,
    rows: pd.DataFrame,
    evidence: dict[str, pd.DataFrame],
    families: dict[str, Family],
    n_reasons: int,
    n_protective: int,
) -> Explained:
    """Reasons, protective factors and support for each row (a flagged household's features)."""
    if rows.empty:
        return Explained(
            np.zeros((0, len(model.features) + 1)),
            pd.DataFrame(columns=["household_id", "reasons", "protective", "support", "base_value"]),
        )
    contrib = model.contributions(rows)
    index = {f: i for i, f in enumerate(model.features)}
    fam_sum = {
        name: contrib[:, [index[f] for f in fam.features if f in index]].sum(axis=1)
        for name, fam in families.items()
    }
    out = []
    for i, hh in enumerate(rows["household_id"].to_numpy()):
        reasons: list[dict] = []
        protective: list[dict] = []
        for name in sorted(families, key=lambda n: (-fam_sum[n][i], n)):
            c, fam, ev = fam_sum[name][i], families[name], evidence.get(name)
            if c > 0 and len(reasons) < n_reasons and ev is not None and hh in ev.index:
                e = ev.loc[hh].to_dict()
                if _yes(e["concern"]):
                    reasons.append(_item(fam, fam.reason, {**e, "household_id": hh}, c))
        for name in sorted(families, key=lambda n: (fam_sum[n][i], n)):
            c, fam, ev = fam_sum[name][i], families[name], evidence.get(name)
            if (
                c < 0
                and fam.protective
                and len(protective) < n_protective
                and ev is not None
                and hh in ev.index
            ):
                e = ev.loc[hh].to_dict()
                if _yes(e["strength"]):
                    protective.append(_item(fam, fam.protective, {**e, "household_id": hh}, c))
        support = list(dict.fromkeys(s for r in reasons for s in families[r["family"]].support))
        out.append(
            {
                "household_id": hh,
                "reasons": reasons,
                "protective": protective,
                "support": support,
                "base_value": float(contrib[i, -1]),
            }
        )
    return Explained(contrib, pd.DataFrame(out))
