"""Re-identification risk on constructed data with known answers (real Spark; no mocks).

Each case builds the two tables of a tiny star (patients, visits) as DataFrames shaped like staging and runs
the same :func:`anonymizer.risk.assess` the risk step runs, so the numbers asserted are the step's numbers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from anonymizer.contract import Contract, ContractError, parse_contract
from anonymizer.privacy import generalize_staged
from anonymizer.risk import assess

BASE = """
contract_version: 1
name: tiny
source: {catalog: src, schema: s}
target: {catalog: tgt, schema: s, staging_schema: stg}
tables:
  dim_doctors:
    primary_key: [doctor_id]
    columns:
      doctor_id: {type: int, nullable: false, classification: key, strategy: key}
      specialization:
        type: string
        nullable: false
        classification: non_sensitive
        strategy: keep
        params: {reason: "closed list of specialties for tests"}
  patients:
    primary_key: [pid]
    columns:
      pid: {type: int, nullable: false, classification: key, strategy: key}
      dob: {type: date, nullable: false, classification: quasi_identifier, strategy: date_shift, params: {entity: pid}}
  visits:
    primary_key: [vid]
    foreign_keys:
      - {columns: [pid], references: {table: patients, columns: [pid]}}
      - {columns: [doctor_id], references: {table: dim_doctors, columns: [doctor_id]}}
    columns:
      vid: {type: int, nullable: false, classification: key, strategy: key}
      pid: {type: int, nullable: false, classification: key, strategy: key}
      hosp: {type: int, nullable: false, classification: quasi_identifier, strategy: keep,
             params: {reason: "hospital number, public in tests"}}
      doctor_id: {type: int, nullable: true, classification: key, strategy: key}
      visit_date: {type: date, nullable: false, classification: quasi_identifier, strategy: date_shift,
                   params: {entity: pid}}
"""


def contract(privacy: str) -> Contract:
    return parse_contract(BASE + privacy, "tiny.yaml")


PRIVACY = """
privacy:
  subject: {{table: patients, key: pid}}
  known: [dob]
  rows: {{table: visits, via: pid, known: [visit_date, hosp]{sensitive}}}
  thresholds: {{k_min: {k_min}, max_share_below_k: 0.0, l_min: {l_min}}}
{extra}
"""


def privacy(k_min: int = 2, l_min: int = 1, extra: str = "", sensitive: str = "") -> str:
    return PRIVACY.format(k_min=k_min, l_min=l_min, extra=extra, sensitive=sensitive)


D = dt.date


def tables(spark: Any, patients: list[tuple[int, dt.date]], visits: list[tuple[int, int, int, int, dt.date]]) -> Any:
    doctors = spark.createDataFrame(
        [(1, "Cardiology"), (2, "Cardiology"), (3, "Oncology")], "doctor_id int, specialization string"
    )
    frames = {
        "dim_doctors": doctors,
        "patients": spark.createDataFrame(patients, "pid int, dob date"),
        "visits": spark.createDataFrame(visits, "vid int, pid int, hosp int, doctor_id int, visit_date date"),
    }
    return frames


def reader(frames: dict[str, Any]) -> Any:
    return lambda table: frames[table]


def test_unique_subjects_fail_then_pass_after_declared_generalization(spark: Any) -> None:
    # 6 patients born on 6 different days of 1961, one visit each, same day, same hospital: each is unique.
    patients = [(i, D(1961, 1, 1 + 3 * i)) for i in range(1, 7)]
    visits = [(10 + i, i, 1, 1, D(2024, 5, 10)) for i in range(1, 7)]
    frames = tables(spark, patients, visits)
    c = contract(privacy(k_min=2))
    result = assess(c, reader(frames))
    assert not result.passed
    assert result.after.subjects == 6
    assert result.after.below_k == 6 and result.after.uniques == 6
    assert result.after.k_min_observed == 1 and result.after.maximum_risk == 1.0
    assert "6 of 6 subjects" in result.reasons[0]
    # the explanation names dob as the driver (without it nobody is below k) and suggests coarsening it
    dob = next(d for d in result.drivers if d["quasi_identifier"] == "patients.dob")
    assert dob["below_k_without_it"] == 0
    assert any("patients.dob" in s for s in result.suggestions)

    declared = contract(privacy(k_min=2, extra="  generalize:\n    - {column: patients.dob, years: 10}\n"))
    staged = {t: generalize_staged(df, declared, t) for t, df in frames.items()}
    assert {r["dob"] for r in staged["patients"].collect()} == {D(1960, 1, 1)}
    passed = assess(declared, reader(staged))
    assert passed.passed, passed.reasons
    assert passed.after.k_min_observed == 6 and passed.after.below_k == 0
    assert passed.after.average_risk == pytest.approx(1 / 6, abs=1e-5)


def test_subject_unique_only_through_a_join_is_caught(spark: Any) -> None:
    # Same decade of birth for all: the patients table alone has one class of 5. Patient 5 is the only one
    # who ever visited hospital 2, so joining the visits singles them out.
    patients = [(i, D(1970, 1, 1)) for i in range(1, 6)]
    visits = [(10 + i, i, 1, 1, D(2024, 1, 1)) for i in range(1, 6)] + [(99, 5, 2, 3, D(2024, 1, 1))]
    c = contract(privacy(k_min=3))
    result = assess(c, reader(tables(spark, patients, visits)))
    assert not result.passed
    assert result.after.below_k == 1 and result.after.uniques == 1
    assert result.after.histogram["5-9"] == 4
    # the same data without the row path: nobody is below k
    subject_only = contract(
        "privacy:\n  subject: {table: patients, key: pid}\n  known: [dob]\n  thresholds: {k_min: 3}\n"
    )
    assert assess(subject_only, reader(tables(spark, patients, visits))).passed


def test_l_diversity_fails_on_a_homogeneous_class(spark: Any) -> None:
    # Three patients, one class of 3 (k passes at 3), all three seen by cardiologists (doctors 1 and 2).
    patients = [(i, D(1980, 6, 1)) for i in range(1, 4)]
    visits = [(10 + i, i, 1, 1 + i % 2, D(2023, 3, 3)) for i in range(1, 4)]
    sensitive = ", sensitive: [doctor_id.specialization]"
    c = contract(privacy(k_min=3, l_min=2, sensitive=sensitive))
    result = assess(c, reader(tables(spark, patients, visits)))
    assert result.after.below_k == 0
    info = result.after.l_diversity["visits.doctor_id.specialization"]
    assert info["below_l"] == 3 and info["l_min_observed"] == 1
    assert not result.passed and "distinct visits.doctor_id.specialization" in result.reasons[0]
    # one oncology visit in the class makes it 2-diverse
    visits[0] = (11, 1, 1, 3, D(2023, 3, 3))
    assert assess(c, reader(tables(spark, patients, visits))).passed


def test_suppression_is_capped_and_counts_markers_as_unknown(spark: Any) -> None:
    # 10 patients share dob and visit date at hospital 1; patients 9 and 10 were born elsewhen: 2 of 10 at risk.
    patients = [(i, D(1990, 1, 1)) for i in range(1, 9)] + [(9, D(1950, 1, 1)), (10, D(2001, 1, 1))]
    visits = [(10 + i, i, 1, 1, D(2022, 2, 2)) for i in range(1, 11)]
    frames = tables(spark, patients, visits)
    supp = "  suppression:\n    max_share: {cap}\n    columns:\n      - {{column: patients.dob, value: 1900-01-01}}\n"
    capped = assess(contract(privacy(k_min=3, extra=supp.format(cap=0.1))), reader(frames))
    assert not capped.passed
    assert capped.suppression["applied"] is False and capped.suppression["needed_subjects"] == 2
    assert "above the cap" in capped.suppression["refused"]
    assert capped.suppressed_tables == {}

    allowed = assess(contract(privacy(k_min=3, extra=supp.format(cap=0.2))), reader(frames))
    assert allowed.passed, allowed.reasons
    s = allowed.suppression
    assert s["applied"] and s["subjects"] == 2 and s["share_subjects"] <= 0.2 and s["cells"] == 2
    assert allowed.after.suppressed_subjects == 2
    # the two suppressed subjects are consistent with everyone at hospital 1: k = 10 for them; the others
    # gain the two "unknown" dobs as candidates: 8 + 2
    assert allowed.after.k_min_observed == 10
    published = {r["pid"]: r["dob"] for r in allowed.suppressed_tables["patients"].collect()}
    assert published[9] == published[10] == D(1900, 1, 1) and published[1] == D(1990, 1, 1)


def test_privacy_section_is_validated_with_the_fix() -> None:
    bad = privacy(
        extra=(
            "  generalize:\n    - {column: visits.pid, to: month}\n    - {column: patients.dob, bin_width: 5}\n"
            "  suppression:\n    max_share: 0.1\n    columns:\n      - {column: patients.dob, set_null: true}\n"
        )
    )
    with pytest.raises(ContractError) as err:
        contract(bad)
    text = str(err.value)
    assert "visits.pid is a key" in text
    assert "patients.dob is a date column; this rule is for number columns" in text
    assert "patients.dob is NOT NULL: suppression cannot set it to NULL" in text
    with pytest.raises(ContractError, match="'nope' is not a column of visits"):
        contract(privacy().replace("known: [visit_date, hosp]", "known: [visit_date, nope]"))


SPECIALIZATION = {1: "Cardiology", 2: "Cardiology", 3: "Oncology"}  # of doctors 1-3 (``tables``)


def marker_contract() -> Contract:
    """k_min 3, l_min 2, specialization sensitive; suppression sets dob and every visit date to 1900-01-01."""
    supp = (
        "  suppression:\n    max_share: 0.5\n    columns:\n      - {column: patients.dob, value: 1900-01-01}\n"
        "      - {column: visits.visit_date, value: 1900-01-01}\n"
    )
    return contract(privacy(k_min=3, l_min=2, extra=supp, sensitive=", sensitive: [doctor_id.specialization]"))


def _oracle(
    patients: list[tuple[int, Any]],
    visits: list[tuple[int, int, Any, int, Any]],
    specialization: dict[int, str],
    marker: dt.date,
) -> dict[int, tuple[int, int, int | None]]:
    """The attacker model of anonymizer.risk, spelled out per subject in plain Python (an independent oracle).

    dob and visit_date are suppressible (marker ``marker``), the hospital is kept. Suppressed: dob and every
    visit date at the marker. A suppressed row's candidates: every subject with a row at its hospital; an
    unsuppressed row's: the unsuppressed subjects with a row of equal published values plus the suppressed ones
    at its hospital. k and l of a subject: the smallest over its rows; without rows, its dob class.
    """
    dob = dict(patients)
    rows: dict[int, list[tuple[Any, Any, Any]]] = {}
    for _vid, pid, hosp, doctor, day in visits:
        rows.setdefault(pid, []).append((day, hosp, specialization.get(doctor)))
    sup = {p for p in dob if dob[p] == marker and all(r[0] == marker for r in rows.get(p, []))}
    out: dict[int, tuple[int, int, int | None]] = {}
    for p in dob:
        if p not in rows:
            out[p] = (sum(1 for q in dob if dob[q] == dob[p]), int(p in sup), None)
            continue
        ks, ls = [], []
        for day, hosp, _x in rows[p]:
            at_hosp = {q for q in rows if any(r[1] == hosp for r in rows[q])}
            same = [(q, r) for q in rows for r in rows[q] if dob[q] == dob[p] and r[:2] == (day, hosp)]
            ls.append(len({r[2] for _q, r in same}))
            if p in sup:
                ks.append(len(at_hosp))
            else:
                ks.append(len({q for q, _r in same if q not in sup}) + len(at_hosp & sup))
        out[p] = (min(ks), int(p in sup), min(ls))
    return out


@pytest.mark.parametrize("seed", [7, 11])
def test_per_subject_k_equals_the_model_spelled_out(spark: Any, seed: int) -> None:
    # Random star with repeats, NULL hospitals and doctors, subjects without visits, suppressed subjects, and
    # unsuppressed subjects whose real dob and some visit dates equal the marker (they share classes with the
    # suppressed rows: counting a suppressed subject there as well as through its hospital overstated k).
    # Every subject's k, suppression flag and l must equal the plain-Python model above, with and without
    # anybody marked (the one-sort path and the marked path).
    import random

    from anonymizer.risk import _nobody_marked, build_frames, per_subject_k

    rng = random.Random(seed)
    marker = D(1900, 1, 1)
    patients = [(i, D(1950 + rng.randrange(4), 1 + rng.randrange(2), 1)) for i in range(1, 121)]
    visits = [
        (
            v,
            rng.randrange(1, 101),
            rng.choice([1, 2, 3, None]),
            rng.choice([1, 2, 3, None]),
            D(2024, 1 + rng.randrange(3), 1),
        )
        for v in range(1, 300)
    ]
    c = marker_contract()
    assert c.privacy is not None

    def measured() -> tuple[bool, dict[int, tuple[int, int, int | None]]]:
        f = build_frames(reader(tables(spark, patients, visits)), c, c.privacy)
        rows = per_subject_k(f).collect()
        return _nobody_marked(f), {r["__s"]: (r["k"], r["__sup"], r["__l_y0"]) for r in rows}

    nobody, got = measured()
    assert nobody and got == _oracle(patients, visits, SPECIALIZATION, marker)
    assert min(k for k, _s, _l in got.values()) < 3 < max(k for k, _s, _l in got.values())
    # suppress five visited subjects fully; give two others the marker dob and one marker visit date each
    visited = sorted({v[1] for v in visits})
    for pid in visited[:5]:
        patients[pid - 1] = (pid, marker)
        visits = [(v, p, h, d, marker if p == pid else day) for v, p, h, d, day in visits]
    for pid in visited[5:7]:
        patients[pid - 1] = (pid, marker)
        first = next(i for i, v in enumerate(visits) if v[1] == pid)
        visits[first] = (*visits[first][:4], marker)
    # and one case pinned down: 201 is real, born on the marker day, with a marker-day visit at hospital 1
    # (the class of suppressed 202's row) and a visit at hospital 2 where 203-208 are suppressed. Its k is 1 +
    # the suppressed at hospital 1 (202 and the random ones there): counting those again as members of its
    # marker-day class gave 9 instead of 5 for seed 7.
    patients += [(p, marker) for p in range(201, 209)]
    visits += [(501, 201, 1, 1, marker), (502, 201, 2, 1, D(2024, 1, 1)), (503, 202, 1, 1, marker)]
    visits += [(600 + p, p, 2, 3, marker) for p in range(203, 209)]
    nobody, got = measured()
    expected = _oracle(patients, visits, SPECIALIZATION, marker)
    assert not nobody and got == expected
    assert got[201][1] == 0 and got[202][1] == 1
    assert sum(s for _k, s, _l in got.values()) == 12


@pytest.mark.parametrize(("seed", "share"), [(3, 1.0), (5, 1.0), (5, 0.0)])
def test_re_measure_after_suppression_equals_the_model_on_the_suppressed_copy(
    spark: Any, seed: int, share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # per_subject_suppressed measures again only the classes the suppressed subjects left or joined, takes
    # every other row's k from the first measure plus a lookup, and aggregates again only the subjects with a
    # row at a suppressed subject's hospital (the others keep their first-measure k). On a star with 12
    # hospitals, every subject's k, suppression flag and l must equal the plain-Python model of the suppressed
    # copy, and the full re-measure. ``share`` 1.0 keeps the unreached subjects as they were; 0.0 aggregates
    # every subject again (the path for suppressed subjects who reach most of the others).
    # Pinned: 301 (not suppressed) carries the marker dob and a marker visit at a suppressed subject's
    # hospital, so the suppressed rows join its class there; it also has a real visit elsewhere.
    import random

    from anonymizer import risk
    from anonymizer.risk import build_frames, per_subject_k, per_subject_suppressed, row_k

    monkeypatch.setattr(risk, "REACHED_SHARE_FOR_ALL", share)
    rng = random.Random(seed)
    marker = D(1900, 1, 1)
    patients = [(i, D(1950 + rng.randrange(3), 1, 1)) for i in range(1, 151)] + [(301, marker)]
    visits = [
        (v, rng.randrange(1, 131), rng.choice([*range(1, 13), None]), rng.choice([1, 2, 3, None]), D(2024, 1, 1))
        for v in range(1, 400)
    ]
    visited = sorted({v[1] for v in visits})
    chosen = [*visited[:3], 150]  # three subjects with visits, and one without (visits go to 1-130)
    hospitals_of_chosen = sorted({v[2] for v in visits if v[1] in chosen[:3] and v[2] is not None})
    untouched = next(h for h in range(1, 13) if h not in hospitals_of_chosen)
    visits += [(901, 301, hospitals_of_chosen[0], 1, marker), (902, 301, untouched, 2, D(2024, 1, 1))]
    c = marker_contract()
    assert c.privacy is not None

    first = build_frames(reader(tables(spark, patients, visits)), c, c.privacy)
    before = row_k(first, carry=True).persist()
    per_before = per_subject_k(first, before).persist()
    suppressed_patients = [(p, marker if p in chosen else d) for p, d in patients]
    suppressed_visits = [(v, p, h, d, marker if p in chosen else day) for v, p, h, d, day in visits]
    after = build_frames(reader(tables(spark, suppressed_patients, suppressed_visits)), c, c.privacy)
    ids = spark.createDataFrame([(p,) for p in chosen], "__s int")

    def per(frame: Any) -> dict[int, tuple[int, int, int | None]]:
        return {r["__s"]: (r["k"], r["__sup"], r["__l_y0"]) for r in frame.collect()}

    got = per(per_subject_suppressed(after, before, per_before, ids))
    expected = _oracle(suppressed_patients, suppressed_visits, SPECIALIZATION, marker)
    assert got == expected == per(per_subject_k(after))
    assert {p for p, (_k, s, _l) in got.items() if s} == set(chosen)
    assert got[301][1] == 0
    # a subject passed as suppressed without its markers (here 301, marked in part): every row measured again
    partly = spark.createDataFrame([(p,) for p in [*chosen, 301]], "__s int")
    assert per(per_subject_suppressed(after, before, per_before, partly)) == expected
    # the three parts were all exercised: subjects aggregated again, subjects kept as they were (no visit at
    # a suppressed subject's hospital), and subjects without visits
    at_chosen = {p for _v, p, h, _d, _day in visits if h in hospitals_of_chosen}
    visited_now = {v[1] for v in visits}
    assert visited_now - at_chosen and at_chosen - set(chosen) and {p for p, _d in patients} - visited_now
    before.unpersist()
    per_before.unpersist()
