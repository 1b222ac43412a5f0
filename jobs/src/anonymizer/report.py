"""The run report (JSON + Markdown), built only from the journal and the contract.

Because it reads the journal, the report can be written by a separate task after the others, and it can
never contain a key or a data value: the journal stores counts, versions and check numbers only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from anonymizer import __version__, release, retention
from anonymizer.contract import Contract
from anonymizer.domains import small_domain_columns
from anonymizer.journal import Event
from anonymizer.keys import ALGORITHM_VERSION
from anonymizer.risk_report import risk_markdown, risk_section


def mermaid_er(contract: Contract) -> str:
    """ER diagram of the contract (tables, typed columns with PK/FK marks, relationships)."""
    lines = ["erDiagram"]
    for table, spec in contract.tables.items():
        fk_cols = {c for fk in spec.foreign_keys for c in fk.columns}
        lines.append(f"    {table} {{")
        for name, col in spec.columns.items():
            mark = "PK" if name in spec.primary_key else "FK" if name in fk_cols else ""
            kind = col.sql_type.name.replace("(", "_").replace(",", "_").replace(")", "")
            lines.append(f'        {kind} {name} {mark} "{col.strategy}"'.replace('  "', ' "'))
        lines.append("    }")
    for table, spec in contract.tables.items():
        for fk in spec.foreign_keys:
            optional = any(spec.columns[c].nullable for c in fk.columns)
            rel = "|o--o{" if optional else "||--o{"
            lines.append(f'    {fk.references.table} {rel} {table} : "{",".join(fk.columns)}"')
    return "\n".join(lines)


def build_report(
    contract: Contract,
    contract_sha256: str,
    run_id: str,
    events: list[Event],
    durations: dict[str, float] | None = None,
) -> dict[str, Any]:
    by_event: dict[str, Event] = {}
    for e in events:
        if e.table_name is None:
            by_event[e.event] = e
    versions: dict[str, dict[str, int | None]] = {}
    for e in events:
        if e.event == "promote_table" and e.table_name:
            versions[e.table_name] = {"before": e.version_before, "after": e.version_after}
    gate = by_event.get("gate_passed") or by_event.get("gate_failed")
    check = by_event.get("check_passed") or by_event.get("check_failed")
    scan = by_event.get("scan_passed") or by_event.get("scan_failed")
    status = (
        "published"
        if "promote_commit" in by_event
        else "identifiers_found"
        if "scan_failed" in by_event
        else "rolled_back"
        if "rolled_back" in by_event
        else "checks_failed"
        if "check_failed" in by_event
        else "risk_failed"
        if "risk_failed" in by_event
        else "gate_failed"
        if "gate_failed" in by_event
        else "incomplete"
    )
    rows = gate.detail.get("row_counts", {}) if gate else {}
    tables = {
        t: {
            "rows": rows.get(t),
            "columns": len(spec.columns),
            "strategies": dict(Counter(c.strategy for c in spec.columns.values())),
            "delta_versions": versions.get(t),
        }
        for t, spec in contract.tables.items()
    }
    started = events[0].ts if events else None
    ended = events[-1].ts if events else None
    return {
        "run_id": run_id,
        "status": status,
        "contract": {
            "name": contract.name,
            "sha256": contract_sha256,
            "source": f"{contract.source.catalog}.{contract.source.schema_}",
            "target": f"{contract.target.catalog}.{contract.target.schema_}",
        },
        "code_version": __version__,
        "started": str(started) if started else None,
        "ended": str(ended) if ended else None,
        "elapsed_seconds": (ended - started).total_seconds() if started and ended else None,
        "durations_seconds": durations or {},
        "tables": tables,
        "gate": gate.detail if gate else None,
        "checks": check.detail.get("checks", []) if check else [],
        "risk": risk_section(events),
        "content_scan": content_scan_section(scan.detail) if scan else None,
        "events": [{"event": e.event, "ts": str(e.ts), "table": e.table_name} for e in events],
        "er_diagram": mermaid_er(contract),
        "algorithm_version": ALGORITHM_VERSION,
        "small_fpe_domains": [small.render() for small in small_domain_columns(contract)],
        "release": release.report_section(contract, events),
        "retention": retention.report_section(contract, events),
    }


def content_scan_section(detail: dict[str, Any]) -> dict[str, Any]:
    """The scan event's detail as reported: findings (masked examples only), sampling and the clean bound."""
    return {
        "findings": detail.get("findings", []),
        "blocking": detail.get("blocking", 0),
        "sampled": detail.get("sampled", {}),
        "fractions": detail.get("fractions", {}),
        "clean_bound_95": detail.get("clean_bound_95", {}),
        "identifier_columns": detail.get("identifier_columns", []),
    }


def content_scan_markdown(scan: dict[str, Any] | None) -> list[str]:
    if scan is None:
        return []
    out = ["", "## Content scan", ""]
    sampled = sum(sum(cols.values()) for cols in scan["sampled"].values())
    columns = sum(len(cols) for cols in scan["sampled"].values())
    out.append(
        f"{len(scan['findings'])} finding(s), {scan['blocking']} blocking; {columns} kept/generalized column(s), "
        f"{sampled:,} sampled values; source values of {len(scan['identifier_columns'])} direct-identifier "
        "column(s) joined. A column without findings has a true rate below 3 / (its sampled values) at 95 %."
    )
    if scan["findings"]:
        out += ["", "| result | where | pattern | rate (95% upper) | sampled | example (masked) | reason |"]
        out.append("|---|---|---|---|---:|---|---|")
        for f in scan["findings"]:
            result = "acknowledged" if f["acknowledged"] else "❌ blocking" if f["blocking"] else "below threshold"
            out.append(
                f"| {result} | {f['table']}.{f['column']} | {f['pattern']} | {f['rate']:.4%} ({f['rate_upper_95']:.4%})"
                f" | {f['sampled']} | `{f['example']}` | {f['acknowledged'] or ''} |"
            )
    return out


def to_markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Anonymization run {report['run_id']}",
        "",
        f"- status: **{report['status']}**",
        f"- contract: `{report['contract']['name']}` sha256 `{report['contract']['sha256'][:16]}…` "
        f"({report['contract']['source']} → {report['contract']['target']})",
        f"- code version: {report['code_version']}",
        f"- elapsed: {report['elapsed_seconds']} s; steps: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in report["durations_seconds"].items()),
        "",
        "## Tables",
        "",
        "| table | rows | columns | strategies | Delta version before → after |",
        "|---|---:|---:|---|---|",
    ]
    for t, info in report["tables"].items():
        v = info["delta_versions"]
        strategies = ", ".join(f"{k}×{n}" for k, n in sorted(info["strategies"].items()))
        moved = f"{v['before']} → {v['after']}" if v else "-"
        out.append(f"| {t} | {info['rows']} | {info['columns']} | {strategies} | {moved} |")
    out += ["", "## Checks", "", "| result | check | where | numbers |", "|---|---|---|---|"]
    for c in report["checks"]:
        where = ".".join(p for p in (c["table"], c["column"]) if p)
        nums = ", ".join(f"{k}={v}" for k, v in c["numbers"].items())
        out.append(f"| {'✅' if c['passed'] else '❌'} | {c['name']} | {where} | {nums} |")
    if report.get("risk"):
        out += ["", *risk_markdown(report["risk"])]
    out += content_scan_markdown(report.get("content_scan"))
    if report["gate"] and report["gate"]["findings"]:
        out += ["", "## Gate findings", ""]
        out += [f"- [{f['code']}] {f['table']}.{f['column'] or ''}: {f['message']}" for f in report["gate"]["findings"]]
    if report.get("small_fpe_domains"):  # key columns below NIST SP 800-38G's 10^6 values, acknowledged
        out += ["", "## Small FPE domains (acknowledged in the contract)", ""]
        out += [f"- {line}" for line in report["small_fpe_domains"]]
    out += release.markdown(report.get("release")) + retention.markdown(report.get("retention"))
    out += ["", "## Data model", "", "```mermaid", report["er_diagram"], "```", ""]
    return "\n".join(out)


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"run-{report['run_id']}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(to_markdown(report))
    (folder / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    (folder / "latest.md").write_text(to_markdown(report))
    return json_path, md_path
