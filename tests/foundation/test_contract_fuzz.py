"""Fuzz the contract loader: whatever the file holds, it returns a valid Contract or raises ContractError.

Anything else (IndexError, KeyError, TypeError, RecursionError, ...) would surface as a traceback with exit 1
instead of a message naming the line and the fix; hypothesis searches for such inputs from three directions:
structural mutations of the shipped contract, byte-level edits of its text, and arbitrary YAML documents.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer.contract import Contract, ContractError, packaged_contract_path, parse_contract
from anonymizer.strategies import STRATEGIES

EXAMPLE = packaged_contract_path().read_text()
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values drawn from the contract's own vocabulary make mutations reach the deep (semantic) rules.
_WORDS = sorted(
    {"int", "bigint", "integer", "string", "varchar(3)", "char(4)", "date", "timestamp", "decimal(5,2)", "map<a,b>"}
    | set(STRATEGIES)
    | {"key", "direct_identifier", "quasi_identifier", "sensitive", "non_sensitive"}
    | {"patient_id", "hospital_id", "doctor_id", "dim_patients", "dim_hospitals", "fact_visits", "visit_date", "dob"}
    | {"a`b", "x.y", "", " ", "1a", "entity", "unique_by", "bin_width", "to", "prefix_length", "length", "month"}
)
_SCALARS = st.one_of(
    st.sampled_from(_WORDS),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*path, i))
    return found


def _assert_loads_or_contract_error(text: str) -> None:
    try:
        result = parse_contract(text, "fuzz.yaml")
    except ContractError as exc:
        assert exc.issues, "a ContractError must list at least one issue"
        assert all(i.message and i.fix for i in exc.issues)
        return
    assert isinstance(result, Contract)


@FUZZ
@given(st.data())
def test_structural_mutations_of_the_shipped_contract(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = data.draw(st.sampled_from(["replace", "delete", "rename", "copy"]), label="op")
        last = path[-1]
        if op == "replace":
            parent[last] = data.draw(_VALUES, label="value")
        elif op == "delete":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(_WORDS), label="new key")] = parent.pop(last)
        elif op == "copy":
            other = data.draw(st.sampled_from(paths), label="from")
            value: Any = doc
            try:
                for part in other:
                    value = value[part]
            except (KeyError, IndexError, TypeError):
                continue
            parent[last] = copy.deepcopy(value)
    _assert_loads_or_contract_error(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


@FUZZ
@given(st.data())
def test_text_edits_of_the_shipped_contract(data: st.DataObject) -> None:
    text = EXAMPLE
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        cut = data.draw(st.integers(0, 8), label="cut")
        insert = data.draw(st.text(alphabet=st.sampled_from(list("&*!?:-[]{},'\"`#|>%@ \n\t0aZ_.<")), max_size=6))
        text = text[:at] + insert + text[at + cut :]
    _assert_loads_or_contract_error(text)


@FUZZ
@given(_VALUES)
def test_arbitrary_yaml_documents(value: Any) -> None:
    _assert_loads_or_contract_error(yaml.safe_dump(value, allow_unicode=True))


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _assert_loads_or_contract_error(text)
