"""Rebuild (or check) the replacement pools shipped in the job wheel, from Faker with a fixed seed.

Dev-only: Faker is not installed on a cluster and the job never calls it. The job reads the shipped text files
through :mod:`anonymizer.pools`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from anonymizer.pools import load_pool, pool_dir

FAKER_SEED = 20240601
FAKER_LOCALE = "en_US"
SIZES = {"cities": 3000, "addresses": 10000, "hospitals": 3000}

_HOSPITAL_TEMPLATES = (
    "{city} General Hospital",
    "St. {first} Medical Center",
    "St. {first} Hospital",
    "{last} Memorial Hospital",
    "{city} Regional Medical Center",
    "{city} Community Hospital",
    "Mercy Medical Center of {city}",
    "{last} Children's Hospital",
    "University Hospital of {city}",
    "{city} Medical Center",
    "Good Samaritan Hospital of {city}",
    "{last} Health Center",
    "{city} Memorial Hospital",
    "{last} Regional Hospital",
)


def _unique(generate: Callable[[], str], size: int) -> list[str]:
    """First ``size`` distinct values of a seeded generator, in generation order (deterministic)."""
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < size:
        attempts += 1
        if attempts > size * 50:
            raise RuntimeError(f"the generator yields fewer than {size} distinct values")
        value = " ".join(generate().split())
        if value:
            seen.setdefault(value, None)
    return list(seen)


def build_pools() -> dict[str, list[str]]:
    """Generate every pool from Faker with a fixed seed. Needs the ``local`` extra (Faker)."""
    from faker import Faker
    from faker.providers.person.en_US import Provider as PersonProvider

    def faker() -> Faker:
        f = Faker(FAKER_LOCALE)
        f.seed_instance(FAKER_SEED)
        return f

    first = sorted({n for n in PersonProvider.first_names if n.isascii() and n.isalpha()})
    last = sorted({n for n in PersonProvider.last_names if n.isascii() and n.isalpha()})
    f = faker()
    cities = _unique(f.city, SIZES["cities"])
    f = faker()
    addresses = _unique(lambda: f"{f.street_address()}, {f.city()}, {f.state_abbr()} {f.zipcode()}", SIZES["addresses"])
    f = faker()

    def hospital() -> str:
        template = f.random.choice(_HOSPITAL_TEMPLATES)
        name: str = template.format(city=f.city(), first=f.first_name(), last=f.last_name())
        return name

    hospitals = _unique(hospital, SIZES["hospitals"])
    return {"first_names": first, "last_names": last, "cities": cities, "addresses": addresses, "hospitals": hospitals}


def render(values: list[str]) -> str:
    return "\n".join(values) + "\n"


def write_pools(directory: Path | None = None) -> dict[str, Path]:
    target = directory or pool_dir()
    target.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, values in build_pools().items():
        path = target / f"{name}.txt"
        path.write_text(render(values), encoding="utf-8")
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build or check the shipped replacement pools.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--build", action="store_true", help="regenerate jobs/src/anonymizer/pools/*.txt")
    group.add_argument("--check", action="store_true", help="fail if the shipped pools differ from a fresh build")
    args = parser.parse_args(argv)
    if args.build:
        for name, path in write_pools().items():
            print(f"{name}: {len(load_pool.__wrapped__(name))} values -> {path}")
        return 0
    stale = [n for n, v in build_pools().items() if (pool_dir() / f"{n}.txt").read_text("utf-8") != render(v)]
    if stale:
        print(f"stale pools: {', '.join(stale)}; run python -m anonymizer_tools.pools_build --build", file=sys.stderr)
        return 1
    print("pools up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
