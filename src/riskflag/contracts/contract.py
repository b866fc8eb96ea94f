"""The data contracts, read once into the few facts ingestion acts on.

The ODCS YAML shipped with riskflag (riskflag/contracts/odcs/, linked from data_contracts/ in a
checkout) is the written agreement a data protection officer reads;
this module turns it into plain typed records so that the readers, the standardiser and the
Great Expectations suites all work from the same facts and never reparse YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from open_data_contract_standard.model import OpenDataContractStandard
from pydantic import ValidationError

from riskflag.errors import ConfigError

LogicalType = Literal["string", "integer", "number", "date", "boolean"]
DeliveryKind = Literal["full_snapshot", "delta", "current_state"]


@dataclass(frozen=True)
class Field:
    name: str
    logical_type: LogicalType
    required: bool
    classification: str
    primary_key: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    valid_values: tuple[str, ...] | None = None
    standardise: str | None = None
    not_after_delivery: bool = False
    not_after_field: str | None = None


@dataclass(frozen=True)
class Contract:
    name: str
    version: str
    delivery_kind: DeliveryKind
    critical: bool
    freshness_days: int
    known_date_field: str | None
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def key(self) -> tuple[str, ...]:
        """The record key: what identifies one record across deliveries (versions share it)."""
        keyed = sorted((f.primary_key, f.name) for f in self.fields if f.primary_key)
        return tuple(name for _, name in keyed)


def _field(p) -> Field:
    opts = p.logicalTypeOptions or {}
    custom = {c.property: c.value for c in p.customProperties or []}
    valid: tuple[str, ...] | None = None
    not_after_delivery = False
    not_after_field = None
    for q in p.quality or []:
        if q.metric == "invalidValues" and q.arguments:
            valid = tuple(str(v) for v in q.arguments["validValues"])
        impl = q.implementation if isinstance(q.implementation, str) else ""
        if q.engine == "riskflag" and impl == "not_after_delivery":
            not_after_delivery = True
        elif q.engine == "riskflag" and impl.startswith("not_after_field "):
            not_after_field = impl.split(maxsplit=1)[1]
    return Field(
        name=p.name,
        logical_type=p.logicalType,
        required=bool(p.required),
        classification=p.classification,
        primary_key=p.primaryKeyPosition if p.primaryKey else None,
        pattern=opts.get("pattern"),
        minimum=opts.get("minimum"),
        maximum=opts.get("maximum"),
        max_length=opts.get("maxLength"),
        valid_values=valid,
        standardise=custom.get("standardise"),
        not_after_delivery=not_after_delivery,
        not_after_field=not_after_field,
    )


def shipped_contracts() -> Traversable:
    """The contracts riskflag ships, found as package data so that an installed wheel has them."""
    return resources.files("riskflag.contracts") / "odcs"


@cache
def load_contract(name: str, folder: Path | None = None) -> Contract:
    """Parsed once per process: the ODCS model costs about 50 ms a contract. `folder`: a council's
    own contracts (default: riskflag's)."""
    path: Traversable = (folder if folder is not None else shipped_contracts()) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: no data contract for source {name!r}")
    try:
        doc = OpenDataContractStandard.from_string(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: not a valid ODCS contract ({str(exc).splitlines()[0]})") from None
    custom = {p.property: p.value for p in doc.customProperties or []}
    absent = [k for k, v in (("name", doc.name), ("version", doc.version), ("schema", doc.schema_)) if not v]
    absent += [
        k for k in ("deliveryKind", "criticalToScoring", "freshnessLimitDays") if custom.get(k) is None
    ]
    if absent or not doc.schema_:
        raise ConfigError(f"{path}: the contract does not give {', '.join(absent)}")
    if custom["deliveryKind"] not in ("full_snapshot", "delta", "current_state"):
        raise ConfigError(
            f"{path}: deliveryKind {custom['deliveryKind']!r} is not one of "
            "full_snapshot, delta, current_state"
        )
    fields = tuple(_field(p) for p in doc.schema_[0].properties or [])
    names = {f.name for f in fields}
    for f in fields:
        if f.not_after_field and f.not_after_field not in names:
            raise ConfigError(f"{path}: {f.name}: not_after_field names unknown field {f.not_after_field!r}")
    return Contract(
        name=str(doc.name),
        version=str(doc.version),
        delivery_kind=custom["deliveryKind"],
        critical=bool(custom["criticalToScoring"]),
        freshness_days=int(str(custom["freshnessLimitDays"])),
        known_date_field=custom.get("knownDateField"),
        fields=fields,
    )
