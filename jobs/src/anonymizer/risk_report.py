"""The risk section of the run report (JSON + Markdown) and its class-size histogram (PNG).

Built from the ``risk_passed`` / ``risk_failed`` journal event only, like the rest of the report, so it holds
counts, thresholds and contract rules, never a data value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anonymizer.journal import EventName


def risk_section(events: list[Any]) -> dict[str, Any] | None:
    """The last risk event's detail (with ``passed``), or None when the run had no risk step."""
    found = None
    for e in events:
        if e.event in (EventName.RISK_PASSED, EventName.RISK_FAILED) and e.table_name is None:
            found = e
    if found is None:
        return None
    detail = dict(found.detail)
    detail["passed"] = found.event == EventName.RISK_PASSED
    return detail


def _before_label(section: dict[str, Any]) -> str:
    origin = section.get("before_from")
    label = "source at full precision (before generalization)"
    return f"{label}, measured in run {origin['run_id']} ({origin['measured_at']})" if origin else label


def _measure_line(name: str, m: dict[str, Any] | None) -> str:
    if not m:
        return f"| {name} | - | - | - | - | - |"
    share = m["below_k"] / m["subjects"] if m["subjects"] else 0.0
    return (
        f"| {name} | {m['k_min_observed']} | {m['below_k']} ({share:.2%}) | {m['uniques']} | "
        f"{m['average_risk']:.4f} | {m['maximum_risk']:.4f} |"
    )


def risk_markdown(section: dict[str, Any]) -> list[str]:
    t = section["thresholds"]
    model = section["model"]
    out = [
        "## Re-identification risk",
        "",
        f"- result: **{'passed' if section['passed'] else 'FAILED'}** (k_min {t['k_min']}, allowed share below "
        f"{t['max_share_below_k']:.2%}; l_min {t['l_min']}, allowed share below {t['max_share_below_l']:.2%})",
        f"- attacker knows: {', '.join(model['quasi_identifiers'])} "
        f"(of {model['rows_known']} row(s) per subject) about subject {model['subject']}",
        f"- formulation: {model['formulation']}; journalist risk = prosecutor risk (the copy holds every subject)",
        "",
        "| measure | k (smallest class) | subjects below k_min | unique | average risk | maximum risk |",
        "|---|---:|---:|---:|---:|---:|",
        _measure_line(_before_label(section), section.get("before")),
        _measure_line("staged, generalized", section.get("generalized")),
        _measure_line("published (after suppression)", section.get("after")),
        "",
    ]
    if section.get("histogram_png"):
        out += [f"![subjects per class size, before and after]({section['histogram_png']})", ""]
    hist = section["after"]["histogram"]
    out += ["| class size k | " + " | ".join(hist) + " |", "|---" * (len(hist) + 1) + "|"]
    for name in ("before", "generalized", "after"):
        m = section.get(name)
        if m:
            out.append(f"| subjects ({name}) | " + " | ".join(str(m["histogram"].get(b, 0)) for b in hist) + " |")
    ldiv = section["after"].get("l_diversity") or {}
    if ldiv:
        out += ["", "| sensitive attribute | smallest l | subjects below l_min |", "|---|---:|---:|"]
        for label, info in ldiv.items():
            out.append(f"| {label} | {info['l_min_observed']} | {info['below_l']} ({info['share_below_l']:.2%}) |")
    out += ["", "Generalized (published coarser than the shifted value):", ""]
    for g in section["generalizations"] or [{"column": "nothing", "rule": "-"}]:
        moved = f"; moves a date by up to {g['max_days_moved']} days" if "max_days_moved" in g else ""
        out.append(f"- `{g['column']}`: {g['rule']}{moved}")
    s = section["suppression"]
    if s.get("applied"):
        out.append(
            f"- suppressed: {s['subjects']} subjects ({s['share_subjects']:.2%}, cap {s['max_share']:.2%}), "
            f"{s['cells']} cells ({s['share_quasi_identifier_cells']:.2%} of quasi-identifier cells) in "
            + ", ".join(f"`{c}`" for c in s["columns"])
        )
    elif s.get("declared"):
        out.append(
            f"- suppression: declared (cap {s['max_share']:.2%}), not applied"
            + (f": {s['refused']}" if s.get("refused") else "")
        )
    if section.get("reasons"):
        out += ["", "Why it failed:", ""] + [f"- {r}" for r in section["reasons"]]
    if section.get("drivers"):
        out += ["", "| quasi-identifier | subjects below k_min without it |", "|---|---:|"]
        out += [f"| {d['quasi_identifier']} | {d['below_k_without_it']} |" for d in section["drivers"]]
    if section.get("suggestions"):
        out += ["", "Suggested fixes:", ""] + [f"- {x}" for x in section["suggestions"]]
    out.append("")
    return out


def write_histogram(section: dict[str, Any], path: Path) -> Path | None:
    """Bar chart of subjects per class-size bucket, before and after; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series: list[tuple[str, dict[str, Any]]] = [
        (n, section[n]) for n in ("before", "generalized", "after") if section.get(n)
    ]
    labels = list(series[-1][1]["histogram"])
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    names = {"before": "source, full precision", "generalized": "generalized", "after": "published"}
    if section.get("before_from"):
        names["before"] += f" (run {section['before_from']['run_id']})"
    for i, (name, m) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, [m["histogram"].get(b, 0) for b in labels], width, label=names[name])
    k_min = section["thresholds"]["k_min"]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel(f"class size k (subjects sharing the published quasi-identifiers); k_min = {k_min}")
    ax.set_ylabel("subjects")
    ax.set_yscale("symlog")
    ax.set_title("Re-identification risk: subjects per class size")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
