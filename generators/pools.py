"""Value pools built once with Faker; the per-row work is then vectorised numpy sampling from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from faker import Faker


@dataclass(frozen=True)
class Pools:
    first_names: np.ndarray
    last_names: np.ndarray
    brands: np.ndarray


def _clean_unique(values: list[str], limit: int) -> np.ndarray:
    seen: dict[str, None] = {}
    for v in values:
        v = v.strip()
        if v and re.fullmatch(r"[A-Za-z][A-Za-z' -]*", v):
            seen.setdefault(v, None)
        if len(seen) >= limit:
            break
    return np.array(list(seen), dtype=object)


@lru_cache(maxsize=4)
def build_pools(seed: int) -> Pools:
    """Deterministic for a seed (and the pinned Faker version)."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    first = _clean_unique([fake.first_name() for _ in range(1500)], 1000)
    last = _clean_unique([fake.last_name() for _ in range(2000)], 1200)
    brands = _clean_unique([fake.last_name() + suffix for suffix in ("", "co", " & Sons", " Labs") for _ in range(60)], 150)
    return Pools(first_names=first, last_names=last, brands=brands)


def slug(values: np.ndarray) -> np.ndarray:
    """Lower-case ASCII letters only, for email local parts."""
    return np.array([re.sub(r"[^a-z]", "", str(v).lower()) for v in values], dtype=object)
