"""Synthetic data for the bench's wide schema (``wide_schema.yaml``): nine tables, composite keys, a deep FK graph.

The medical star schema has four tables; a team's real schema has more, and the issue's "8-table schema with
87k rows spent 80-105 s in the gate" came from costs that grow with tables and columns, not rows. This
generator fills the wide contract at any size so the bench can show those per-table overheads next to a copy.

Sizes follow one number, ``claims``: ~2.5 lines per claim, a member per 4 claims with 1-2 policies each, a
provider per 200 claims, a clinic per 2,000. Every foreign key points at an existing row (composite ones
included), every composite primary key is unique, and the same seed and size give the same frames. Values are
drawn with numpy from the medical generator's Faker pools, so a 100k-claim schema takes seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from anonymizer.contract import Contract, load_contract
from anonymizer.runtime import Runtime
from anonymizer_tools.generate import (
    EPOCH,
    SPECIALIZATIONS,
    _addresses,
    _names,
    _phones,
    _ssns,
    build_pools,
    write_source,
)

CONTRACT_PATH = Path(__file__).with_name("wide_schema.yaml")
COUNTRIES = 5
REGIONS_PER_COUNTRY = 10
STATUSES = ("submitted", "approved", "paid", "rejected", "appealed")
PLANS = ("BRONZE-1", "SILVER-2", "GOLD-3", "PLATINUM-4", "STUDENT-5")
AS_OF = dt.date(2026, 10, 31)


def wide_contract() -> Contract:
    """The wide scenario's contract, through the same loader (and validation) as any contract."""
    return load_contract(CONTRACT_PATH)


def wide_frames(claims: int, seed: int) -> dict[str, pd.DataFrame]:
    """The nine tables as pandas frames for ``claims`` claims (deterministic for a seed and size)."""
    rng = np.random.default_rng(seed)
    pools = build_pools(seed)
    claims = max(1, claims)
    today = (AS_OF - EPOCH).days

    # Regions: COUNTRIES x REGIONS_PER_COUNTRY, composite key (country_id, region_id).
    n_region = COUNTRIES * REGIONS_PER_COUNTRY
    region_country = np.repeat(np.arange(1, COUNTRIES + 1, dtype=np.int32), REGIONS_PER_COUNTRY)
    region_id = np.tile(np.arange(1, REGIONS_PER_COUNTRY + 1, dtype=np.int32), COUNTRIES)
    regions = pd.DataFrame(
        {
            "country_id": region_country,
            "region_id": region_id,
            "region_name": np.array([f"Region {c}-{r:02d}" for c, r in zip(region_country, region_id, strict=True)]),
        }
    )

    # Clinics: numbered within their region; key (country_id, region_id, clinic_no).
    n_clinic = max(n_region, claims // 2000)
    clinic_region = np.concatenate([np.arange(n_region), rng.integers(0, n_region, n_clinic - n_region)])
    clinic_region.sort()
    clinic_no = (np.arange(n_clinic) - np.searchsorted(clinic_region, clinic_region, side="left") + 1).astype(np.int32)
    city = pools.cities[rng.integers(0, len(pools.cities), n_clinic)]
    clinics = pd.DataFrame(
        {
            "country_id": region_country[clinic_region],
            "region_id": region_id[clinic_region],
            "clinic_no": clinic_no,
            "name": city + np.where(rng.random(n_clinic) < 0.5, " Family Clinic", " Health Center"),
            "address": _addresses(rng, pools, n_clinic),
            "phone": _phones(rng, n_clinic),
        }
    )

    specialties = pd.DataFrame(
        {"specialty_id": np.arange(1, len(SPECIALIZATIONS) + 1, dtype=np.int32), "name": list(SPECIALIZATIONS)}
    )

    n_provider = max(20, claims // 200)
    provider_clinic = rng.integers(0, n_clinic, n_provider)
    providers = pd.DataFrame(
        {
            "provider_id": np.arange(1, n_provider + 1, dtype=np.int32),
            "name": "Dr. " + _names(rng, pools, n_provider),
            "license_no": np.char.add("LIC", np.char.zfill(rng.permutation(n_provider).astype(str), 9)).astype(object),
            "specialty_id": rng.integers(1, len(SPECIALIZATIONS) + 1, n_provider).astype(np.int32),
            "country_id": clinics["country_id"].to_numpy()[provider_clinic],
            "region_id": clinics["region_id"].to_numpy()[provider_clinic],
            "clinic_no": clinic_no[provider_clinic],
        }
    )

    n_member = max(1, claims // 4)
    member_ids = rng.permutation(np.arange(1, n_member + 1, dtype=np.int64)) + 10_000_000_000
    names = _names(rng, pools, n_member)
    email = np.char.add(
        np.char.replace(np.char.lower(names.astype(str)), " ", "."), np.char.add(".", np.arange(n_member).astype(str))
    ).astype(object)
    email = email + "@mail.example.com"
    email[rng.random(n_member) < 0.1] = None
    lo, hi = (dt.date(1935, 1, 1) - EPOCH).days, (dt.date(2007, 12, 31) - EPOCH).days
    member_region = rng.integers(0, n_region, n_member)
    members = pd.DataFrame(
        {
            "member_id": member_ids,
            "name": names,
            "email": email,
            "ssn": _ssns(rng, n_member),
            "birth_date": rng.integers(lo, hi + 1, n_member),
            "country_id": region_country[member_region],
            "region_id": region_id[member_region],
        }
    )

    # Policies: 1 or 2 per member, numbered 1.. within the member.
    per_member = 1 + (rng.random(n_member) < 0.5).astype(np.int64)
    policy_member = np.repeat(np.arange(n_member), per_member)
    policy_no = (np.arange(len(policy_member)) - np.repeat(np.cumsum(per_member) - per_member, per_member) + 1).astype(
        np.int32
    )
    n_policy = len(policy_member)
    policies = pd.DataFrame(
        {
            "member_id": member_ids[policy_member],
            "policy_no": policy_no,
            "plan_code": np.array(PLANS, dtype=object)[rng.integers(0, len(PLANS), n_policy)],
            "start_date": today - rng.integers(30, 3650, n_policy),
            "monthly_premium": np.round(rng.uniform(80, 900, n_policy), 2),
        }
    )

    # Bridge: 1-3 distinct providers per member (distinct by construction: consecutive offsets mod n).
    links = rng.integers(1, 4, n_member)
    bridge_member = np.repeat(np.arange(n_member), links)
    first = rng.integers(0, n_provider, n_member)
    offset = np.arange(len(bridge_member)) - np.repeat(np.cumsum(links) - links, links)
    bridge_provider = (np.repeat(first, links) + offset) % n_provider
    bridge = pd.DataFrame(
        {
            "member_id": member_ids[bridge_member],
            "provider_id": (bridge_provider + 1).astype(np.int32),
            "registered_on": today - rng.integers(1, 3650, len(bridge_member)),
            "is_primary": offset == 0,
        }
    )

    # Claims: a policy each (hence its member), a provider (5% none), filed in the last 3 years.
    claim_policy = rng.integers(0, n_policy, claims)
    provider = (rng.integers(1, n_provider + 1, claims)).astype("float64")
    provider[rng.random(claims) < 0.05] = np.nan
    notes = ("Call back " + _names(rng, pools, claims)).astype(object)
    notes[rng.random(claims) >= 0.3] = None  # free text on 30% of claims, with a name in it
    filed = (today - rng.integers(0, 3 * 365, claims)) * 86_400 + rng.integers(0, 86_400, claims)
    claims_df = pd.DataFrame(
        {
            "claim_id": np.arange(1, claims + 1, dtype=np.int64) + 5_000_000_000,
            "member_id": member_ids[policy_member[claim_policy]],
            "policy_no": policy_no[claim_policy],
            "provider_id": pd.array(provider, dtype="Int32"),
            "filed_at": filed.astype("datetime64[s]").astype("datetime64[us]"),
            "status": np.array(STATUSES, dtype=object)[rng.integers(0, len(STATUSES), claims)],
            "total_amount": np.round(rng.lognormal(5.0, 1.0, claims), 2),
            "notes": notes,
        }
    )

    lines_per = rng.integers(1, 5, claims)
    line_claim = np.repeat(np.arange(claims), lines_per)
    line_no = (np.arange(len(line_claim)) - np.repeat(np.cumsum(lines_per) - lines_per, lines_per) + 1).astype(np.int32)
    n_line = len(line_claim)
    lines = pd.DataFrame(
        {
            "claim_id": claims_df["claim_id"].to_numpy()[line_claim],
            "line_no": line_no,
            "procedure_code": np.char.add("P", np.char.zfill(rng.integers(0, 99_999, n_line).astype(str), 5)).astype(
                object
            ),
            "quantity": rng.integers(1, 6, n_line).astype(np.int32),
            "line_amount": np.round(rng.lognormal(4.0, 0.8, n_line), 2),
        }
    )
    for frame, col in ((members, "birth_date"), (policies, "start_date"), (bridge, "registered_on")):
        frame[col] = np.datetime64("1970-01-01") + frame[col].to_numpy().astype("timedelta64[D]")
    return {
        "dim_region": regions,
        "dim_clinic": clinics,
        "dim_specialty": specialties,
        "dim_provider": providers,
        "dim_member": members,
        "dim_policy": policies,
        "bridge_member_provider": bridge,
        "fact_claims": claims_df,
        "fact_claim_lines": lines,
    }


def generate_wide(
    runtime: Runtime,
    contract: Contract,
    claims: int,
    seed: int,
    scratch: Path,
    progress: Callable[[str], None] = print,
) -> dict[str, int]:
    """Generate and write the wide schema's source tables (contract DDL, keys declared); returns row counts."""
    return write_source(runtime, contract, wide_frames(claims, seed).items(), scratch, progress)
