"""Value pools taken from Faker's locale data once; the per-row work is vectorised sampling from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from faker.providers.person.en_US import Provider as PersonProvider


@dataclass(frozen=True)
class Pools:
    first_names: np.ndarray
    last_names: np.ndarray
    brands: np.ndarray


def _names(weighted: dict[str, float] | tuple[str, ...]) -> np.ndarray:
    names = sorted({n for n in weighted if re.fullmatch(r"[A-Za-z][A-Za-z' -]*", n)})
    return np.array(names, dtype=object)


@lru_cache(maxsize=4)
def build_pools(seed: int) -> Pools:
    """Deterministic for a seed and the pinned Faker version (its en_US name lists)."""
    rng = np.random.default_rng(seed)
    first = _names({**PersonProvider.first_names_female, **PersonProvider.first_names_male})
    last = _names(PersonProvider.last_names)
    suffixes = np.array(["", "co", " & Sons", " Labs", " Outfitters", " Goods"], dtype=object)
    brand_roots = last[rng.choice(len(last), size=150, replace=False)]
    brands = np.array(sorted(set(brand_roots + suffixes[rng.integers(0, len(suffixes), 150)])), dtype=object)
    return Pools(first_names=first, last_names=last, brands=brands)


def slug(values: np.ndarray) -> np.ndarray:
    """Lower-case ASCII letters only, for email local parts."""
    return np.array([re.sub(r"[^a-z]", "", str(v).lower()) for v in values], dtype=object)
