"""The data contracts: valid ODCS v3, complete for a data protection officer, and in step with
the council config that maps each system's columns onto them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from riskflag.config import SOURCE_NAMES, load_config

ROOT = Path(__file__).resolve().parents[2]
CLASSES = {"direct_identifier", "quasi_identifier", "special_category", "equality", "operational"}
REQUIRED_PROPERTIES = {
    "lawfulBasis",
    "specialCategoryCondition",
    "deliveryKind",
    "criticalToScoring",
    "freshnessLimitDays",
}


def _contract(name: str) -> OpenDataContractStandard:
    return OpenDataContractStandard.from_string((ROOT / "data_contracts" / f"{name}.yaml").read_text())


def test_one_contract_per_source() -> None:
    files = {p.stem for p in (ROOT / "data_contracts").glob("*.yaml")}
    assert files == set(SOURCE_NAMES)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_contract_records_what_governance_needs(name: str) -> None:
    c = _contract(name)
    assert c.name == name and c.team and c.team.name
    assert c.description and c.description.purpose
    custom = {p.property: p.value for p in c.customProperties or []}
    assert set(custom) >= REQUIRED_PROPERTIES, REQUIRED_PROPERTIES - set(custom)
    assert custom["deliveryKind"] in {"full_snapshot", "delta", "current_state"}
    assert isinstance(custom["criticalToScoring"], bool)
    assert int(custom["freshnessLimitDays"]) > 0
    sla = {p.property for p in c.slaProperties or []}
    assert {"frequency", "retention", "latency"} <= sla
    props = c.schema_[0].properties
    assert props
    for p in props:
        assert p.classification in CLASSES, (name, p.name, p.classification)
        assert p.logicalType in {"string", "integer", "number", "date", "boolean"}, (name, p.name)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_config_maps_exactly_the_contracts_fields(name: str) -> None:
    cfg = load_config(ROOT / "configs" / "council.yaml")
    c = _contract(name)
    fields = {p.name: p for p in c.schema_[0].properties}
    mapping = cfg.sources[name]
    assert set(mapping.columns) == set(fields), set(mapping.columns) ^ set(fields)
    for field, codes in mapping.values.items():
        allowed = next(
            q.arguments["validValues"] for q in fields[field].quality if q.metric == "invalidValues"
        )
        assert set(codes.values()) <= set(allowed), (name, field)


def test_special_category_sources_name_their_condition() -> None:
    for name in ("adult_social_care", "childrens_services", "homelessness_cases", "benefits"):
        custom = {p.property: p.value for p in _contract(name).customProperties}
        assert "Schedule 1" in custom["specialCategoryCondition"], name
        classes = {p.classification for p in _contract(name).schema_[0].properties}
        assert classes & {"special_category", "equality"}, name


def test_contracts_pass_the_standards_own_json_schema() -> None:
    """Stricter than the pydantic model, which ignores keys it does not know."""
    import json
    import os

    import jsonschema
    import open_data_contract_standard

    schema = json.loads(
        Path(os.path.dirname(open_data_contract_standard.__file__), "schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    for p in sorted((ROOT / "data_contracts").glob("*.yaml")):
        doc = yaml.safe_load(p.read_text())
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (p.name, errors[:3])
        assert doc["apiVersion"].startswith("v3") and doc["kind"] == "DataContract"


def test_suite_batches_columns_of_like_length_so_no_frame_is_mostly_padding() -> None:
    import pyarrow as pa

    from riskflag.contracts.suite import Group, like_lengths, run_suite

    def group(name: str, kind: str, **kwargs: object) -> Group:
        return Group(name, name, kind, {"column": name, **kwargs}, "text")

    groups = [
        group("short", "ExpectColumnValueLengthsToBeBetween", max_value=3),
        group("long", "ExpectColumnValueLengthsToBeBetween", max_value=3),
        group("longish", "ExpectColumnValuesToMatchRegex", regex="^[a-z]+$"),
    ]
    columns = {
        "long": pa.chunked_array([["abc"] * 999 + ["abcd"]]),
        "longish": pa.chunked_array([["ok"] * 299 + ["NO"]]),
        "short": pa.chunked_array([["toolong", "ok"]]),
    }
    batches = like_lengths(groups, {c: len(a) for c, a in columns.items()})
    assert [[g.name for g in b] for b in batches] == [["long", "longish"], ["short"]]
    fails = run_suite("test-batches", groups, columns, {})
    assert sorted(map(tuple, fails.to_numpy().tolist())) == [("long", 999), ("longish", 299), ("short", 0)]
