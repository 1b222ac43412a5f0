"""The strategy registry: every strategy x every type it accepts runs through the real engine, and nothing
outside the registry knows a strategy by name.

One wide Delta table holds a column per (strategy, type) case, so a single Spark job anonymizes them all; each
case is then asserted on its own: exact schema, NULL in -> NULL out, and the strategy's own output check (the
one the check step runs on every publish) accepts what the strategy produced.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from anonymizer.contract import Settings, json_schema, parse_contract
from anonymizer.engine import anonymize_table
from anonymizer.keys import Keyring
from anonymizer.sqltypes import parse_type
from anonymizer.strategies import STRATEGIES, CheckInput, fit_problem

KEYRING = Keyring.from_bytes(hashlib.sha256(b"test vector: strategy registry").digest())  # fixed, public

# Representative types of every family, with two non-NULL sample values as Spark SQL literals.
TYPES: dict[str, dict[str, tuple[str, str]]] = {
    "integer": {"tinyint": ("5", "-128"), "smallint": ("300", "-32768"), "int": ("42", "-7")}
    | {"bigint": ("9000000000", "-9223372036854775808")},
    "decimal": {"decimal(10,2)": ("1234.56", "-99999999.99")},
    "floating": {"float": ("2.75", "-0.25"), "double": ("17.0", "-5.0")},
    "string": {"string": ("'AB-1234'", "''"), "varchar(80)": ("'zz-0000'", "'x'")},
    "date": {"date": ("DATE'2021-05-17'", "DATE'1900-01-01'")},
    "timestamp": {
        "timestamp": ("TIMESTAMP'2021-05-17 10:30:00'", "TIMESTAMP'1970-01-01 00:00:00'"),
        "timestamp_ntz": ("TIMESTAMP_NTZ'2021-05-17 10:30:00'", "TIMESTAMP_NTZ'2000-02-29 23:59:59'"),
    },
    "boolean": {"boolean": ("true", "false")},
    "binary": {"binary": ("X'0102'", "X''")},
    "complex": {
        "array<int>": ("array(1, 2)", "array()"),
        "map<string,int>": ("map('a', 1)", "map()"),
        "struct<a:int,b:string>": ("named_struct('a', 1, 'b', 'x')", "named_struct('a', NULL, 'b', NULL)"),
    },
}
# Realistic string inputs where the strategy reads a format (an SSN, a phone number, an address).
STRING_SAMPLES = {
    "ssn": ("'123-45-6789'", "'078-05-1120'"),
    "phone": ("'(555) 123-4567'", "'+1 555 0100 x12'"),
    "email": ("'jon.smith@mail.com'", "'a+b@example.org'"),
    "person_name": ("'Jon Smith'", "''"),
}


def _params(strategy: str, family: str) -> dict[str, Any]:
    """Valid params of each strategy for a family (a new strategy needs an entry: KeyError otherwise)."""
    return {
        "date_shift": lambda: {"entity": "id"},
        "generalize": lambda: (
            {"to": "month"}
            if family in ("date", "timestamp")
            else {"prefix_length": 3}
            if family == "string"
            else {"bin_width": 10}
        ),
        "keep": lambda: {"reason": "not personal: registry test"},
        "hash": lambda: {"length": 16},
        # tinyint/smallint/short strings are below FPE's 10^6 minimum: the matrix acknowledges it on purpose
        "key": lambda: {"small_domain_ok": "registry test: every accepted type, small domains included"},
    }.get(strategy, dict)()


CASES = [
    (strategy, family, type_name)
    for strategy, spec in STRATEGIES.items()
    for family in sorted(spec.families)
    for type_name in TYPES[family]
    if fit_problem(strategy, parse_type(type_name), True, spec.params.model_validate(_params(strategy, family))) is None
]


def _column(case: tuple[str, str, str]) -> str:
    strategy, _, type_name = case
    return f"{strategy}__{''.join(ch if ch.isalnum() else '_' for ch in type_name)}"


@pytest.fixture(scope="module")
def wide(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    names = [_column(c) for c in CASES]
    lines = [
        "contract_version: 1",
        "name: registry",
        "source: {catalog: c, schema: s}",
        "target: {catalog: c2, schema: s, staging_schema: st}",
        "tables:",
        "  wide:",
        "    primary_key: [id]",
        "    columns:",
        "      id: {type: bigint, nullable: false, classification: key, strategy: key}",
        "      rid: {type: int, nullable: false, classification: non_sensitive, strategy: keep,"
        " params: {reason: row id of the test}}",
    ]
    for name, (strategy, family, type_name) in zip(names, CASES, strict=True):
        classification = "key" if STRATEGIES[strategy].preserves_joins else "sensitive"
        lines.append(
            f"      {name}: {{type: '{type_name}', nullable: true, classification: {classification}, "
            f"strategy: '{strategy}', params: {_params(strategy, family)!r}}}"
        )
    contract = parse_contract("\n".join(lines) + "\n", "registry.yaml")
    ddl = ", ".join(
        ["id BIGINT NOT NULL", "rid INT NOT NULL"] + [f"{n} {c[2]}" for n, c in zip(names, CASES, strict=True)]
    )
    path = tmp_path_factory.mktemp("registry") / "wide"
    spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING delta")
    rows = []
    for rid in range(3):
        values = [str(rid + 1), str(rid)]
        for strategy, family, type_name in CASES:
            samples = STRING_SAMPLES.get(strategy, TYPES[family][type_name]) if family == "string" else None
            samples = samples or TYPES[family][type_name]
            values.append("NULL" if rid == 2 else samples[rid])
        rows.append(f"({', '.join(values)})")
    spark.sql(f"INSERT INTO delta.`{path}` VALUES {', '.join(rows)}")
    src = spark.read.format("delta").load(str(path))
    out = anonymize_table(src, contract, "wide", KEYRING)
    out.write.format("delta").save(str(path) + "_out")  # materialize once: every case reads the same output
    out = spark.read.format("delta").load(str(path) + "_out")

    from pyspark.sql import functions as F

    s = src.select(*[F.col(c).alias(f"s__{c}") for c in src.columns])
    t = out.select(*[F.col(c).alias(f"t__{c}") for c in out.columns])
    aligned = s.join(t, F.col("s__rid") == F.col("t__rid"))
    aggs = []
    for name in names:
        col = contract.tables["wide"].columns[name]
        check = CheckInput(F.col(f"s__{name}"), F.col(f"t__{name}"), col.sql_type, col.strategy_params(), Settings())
        invalid = F.coalesce(STRATEGIES[col.strategy].output_check(check), F.lit(False))
        aggs += [
            F.sum(invalid.cast("long")).alias(f"invalid__{name}"),
            F.sum((F.col(f"s__{name}").isNull() & F.col(f"t__{name}").isNotNull()).cast("long")).alias(f"nn__{name}"),
            F.sum((F.col(f"s__{name}").isNotNull() & F.col(f"t__{name}").isNull()).cast("long")).alias(f"lost__{name}"),
        ]
    stats = aligned.agg(F.count(F.lit(1)).alias("rows"), *aggs).collect()[0].asDict()
    return {"src": src.schema, "out": out.schema, "stats": stats}


def test_cases_cover_every_strategy_and_family() -> None:
    covered = {(s, f) for s, f, _ in CASES}
    assert covered == {(s, f) for s, spec in STRATEGIES.items() for f in spec.families}


@pytest.mark.spark
@pytest.mark.parametrize("case", CASES, ids=_column)
def test_every_strategy_on_every_accepted_type(wide: dict[str, Any], case: tuple[str, str, str]) -> None:
    name = _column(case)
    strategy = case[0]
    assert wide["stats"]["rows"] == 3
    assert wide["out"][name] == wide["src"][name], "schema (type, nullability, metadata) must be unchanged"
    assert wide["stats"][f"nn__{name}"] == 0, "NULL in must give NULL out"
    if strategy != "null":
        assert wide["stats"][f"lost__{name}"] == 0, "a value must not become NULL"
    assert wide["stats"][f"invalid__{name}"] == 0, (
        f"output fails the strategy's own check: {STRATEGIES[strategy].output_rule}"
    )


@pytest.mark.spark
def test_output_checks_reject_broken_output(spark: Any) -> None:
    """Each check can fail: fed a wrong output it flags the row (so the test above is not vacuous)."""
    from pyspark.sql import functions as F

    def flagged(strategy: str, type_name: str, source: str, output: str, params: dict[str, Any]) -> bool:
        spec = STRATEGIES[strategy]
        check = CheckInput(
            F.expr(source), F.expr(output), parse_type(type_name), spec.params.model_validate(params), Settings()
        )
        return bool(spark.range(1).select(F.coalesce(spec.output_check(check), F.lit(False))).collect()[0][0])

    assert flagged("ssn", "string", "'123-45-6789'", "'666-12-3456'", {})
    assert flagged("email", "string", "'a@b.com'", "'not an email'", {})
    assert flagged("phone", "string", "'(555) 123-4567'", "'5551234567'", {})
    assert flagged("date_shift", "date", "DATE'2021-05-17'", "DATE'2021-06-17'", {"entity": "id"})
    assert flagged("date_shift", "date", "DATE'2021-05-17'", "DATE'2019-05-17'", {"entity": "id"})
    assert flagged("generalize", "int", "41", "50", {"bin_width": 10})
    assert flagged("generalize", "string", "'abcdef'", "'abd'", {"prefix_length": 3})
    assert flagged("hash", "string", "'x'", "'XYZ'", {"length": 16})
    assert flagged("key", "int", "42", "-3", {})
    assert flagged("key", "string", "'AB-12'", "'AB-123'", {})
    assert flagged("null", "int", "1", "1", {})
    assert flagged("keep", "int", "1", "2", {"reason": "not personal: test"})
    assert flagged("person_name", "string", "'Ann Lee'", "' '", {})
    assert flagged("keep", "map<string,int>", "map('a', 1)", "map('a', 2)", {"reason": "not personal: test"})
    # ... and passes what is right (two spellings of one value: the check compares values, not column names)
    assert not flagged("keep", "array<int>", "array(1, 2)", "array(1, 1 + 1)", {"reason": "not personal: test"})
    assert not flagged("generalize", "int", "41", "40", {"bin_width": 10})


def test_every_strategy_declares_everything_the_job_needs() -> None:
    families = {"integer", "decimal", "floating", "string", "date", "timestamp", "boolean", "binary", "complex"}
    for name, spec in STRATEGIES.items():
        assert spec.name == name
        assert spec.families and spec.families <= families, name
        assert issubclass(spec.params, BaseModel), name
        assert callable(spec.build) and callable(spec.output_check) and spec.output_rule, name
        assert spec.unchanged_chance is None or 0 <= spec.unchanged_chance < 0.01, name
    assert any(s.preserves_joins for s in STRATEGIES.values()), "foreign keys need a join-preserving strategy"
    # the contract's JSON schema offers exactly the registry's strategies
    assert json_schema()["$defs"]["Column"]["properties"]["strategy"]["enum"] == sorted(STRATEGIES)


# Modules that must dispatch through the registry instead of naming strategies.
DISPATCHERS = ["engine.py", "checks.py", "classify.py", "contract.py", "gate.py", "pipeline.py", "report.py"]


def _strategy_name_uses(source: str) -> list[str]:
    """Comparisons of a ``strategy`` value with a strategy-name literal, and dict/set literals keyed by
    two or more strategy names (the per-strategy tables the registry replaced)."""
    names = set(STRATEGIES)
    found = []

    def literals(node: ast.AST) -> set[str]:
        return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and n.value in names}

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            mentions_strategy = any("strategy" in ast.unparse(side).lower() for side in sides)
            if mentions_strategy and any(literals(side) for side in sides):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, (ast.Dict, ast.Set)):
            keys = node.keys if isinstance(node, ast.Dict) else node.elts
            if len({k.value for k in keys if isinstance(k, ast.Constant) and k.value in names}) >= 2:
                found.append(f"line {node.lineno}: a table keyed by strategy names")
    return found


def test_the_name_detector_detects() -> None:
    assert _strategy_name_uses('if column.strategy == "ssn":\n    pass\n')
    assert _strategy_name_uses('if col.strategy in ("hash", "email"):\n    pass\n')
    assert _strategy_name_uses('CHANCE = {"ssn": 1e-6, "phone": 1e-4}\n')
    assert not _strategy_name_uses('if col.classification == "key":\n    pass\n')


@pytest.mark.parametrize("module", DISPATCHERS)
def test_no_strategy_is_known_by_name_outside_the_registry(repo_root: Path, module: str) -> None:
    source = (repo_root / "jobs/src/anonymizer" / module).read_text()
    assert _strategy_name_uses(source) == [], f"{module} names strategies: dispatch through anonymizer.strategies"
