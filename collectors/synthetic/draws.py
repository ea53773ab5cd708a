"""Random numbers keyed by what they are for, not by the order in which they are drawn.

A sequential generator hands out numbers in order, so one more deployment anywhere (a holiday
that falls a week later, because the history ends on another Monday) shifts every later draw
and gives a different org. Here each number is a hash of (seed, what it is for, which row):
a row is named by where it sits relative to the end of the history (repository, day before
the end, rank within that day; then pull request k of that deployment, commit j of that pull
request, ...). So the same seed gives the same rows relative to the end week, whatever the
date, and a change somewhere moves only the rows it touches.

The hash is splitmix64's finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom
number generators", 2014), vectorised over numpy uint64 arrays; uniforms become other
distributions by their inverse CDF.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import special, stats

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _u64(values: np.ndarray | int) -> np.ndarray:
    return np.asarray(values).astype(np.int64).astype(np.uint64)


def child(keys: np.ndarray, index: np.ndarray | int) -> np.ndarray:
    """Keys of the index-th sub-row of each row (commit j of pull request k, ...)."""
    return _mix(_mix(np.asarray(keys, dtype=np.uint64) ^ _mix(_u64(index))))


class Draws:
    """Every random number of one demo org, as a function of (seed, purpose, row key)."""

    def __init__(self, seed: int) -> None:
        self.seed = _mix(_u64(seed))

    def keys(self, *parts: np.ndarray | int) -> np.ndarray:
        """Row keys from integer coordinates (broadcast), e.g. (repo, day before the end)."""
        arrays = np.broadcast_arrays(*(np.asarray(p) for p in parts))
        key = np.broadcast_to(self.seed, arrays[0].shape)
        for part in arrays:
            key = _mix(key ^ _mix(_u64(part)))
        return key

    def u(self, purpose: str, keys: np.ndarray) -> np.ndarray:
        """Uniform in (0, 1), one per key, independent across purposes."""
        tag = np.uint64(zlib.crc32(purpose.encode()))
        h = _mix(np.asarray(keys, dtype=np.uint64) ^ _mix(np.full(np.shape(keys), tag)))
        return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53

    # -- distributions, by inverse CDF -----------------------------------------------------------
    def random(self, purpose: str, keys: np.ndarray) -> np.ndarray:
        return self.u(purpose, keys)

    def uniform(self, purpose: str, keys: np.ndarray, low: float, high: float) -> np.ndarray:
        return low + (high - low) * self.u(purpose, keys)

    def normal(self, purpose: str, keys: np.ndarray, mean: float, sd: float) -> np.ndarray:
        return mean + sd * special.ndtri(self.u(purpose, keys))

    def lognormal(self, purpose: str, keys: np.ndarray, median: np.ndarray | float,
                  sigma: np.ndarray | float) -> np.ndarray:
        """Log-normal with the given median (exp of the log's mean) and log standard deviation."""
        return median * np.exp(sigma * special.ndtri(self.u(purpose, keys)))

    def integers(self, purpose: str, keys: np.ndarray, low: np.ndarray | int,
                 high: np.ndarray | int) -> np.ndarray:
        """Integers in [low, high)."""
        span = np.asarray(high) - np.asarray(low)
        return np.asarray(low) + np.minimum((self.u(purpose, keys) * span).astype(np.int64), span - 1)

    def poisson(self, purpose: str, keys: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
        return stats.poisson.ppf(self.u(purpose, keys), lam).astype(np.int64)

    def geometric(self, purpose: str, keys: np.ndarray, p: float) -> np.ndarray:
        """Trials until the first success (1, 2, ...), as numpy's geometric."""
        return np.maximum(np.ceil(np.log1p(-self.u(purpose, keys)) / np.log1p(-p)), 1).astype(np.int64)

    def choice(self, purpose: str, keys: np.ndarray, options: list | np.ndarray,
               p: list[float] | np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(p) / np.sum(p)
        pick = np.searchsorted(cumulative, self.u(purpose, keys), side="right")
        return np.asarray(options)[np.minimum(pick, len(cumulative) - 1)]

    def shas(self, purpose: str, keys: np.ndarray) -> np.ndarray:
        """A 40-hex-digit sha per key."""
        parts = [child(keys, np.full(len(keys), i)) ^ self.seed ^ np.uint64(zlib.crc32(purpose.encode()))
                 for i in range(3)]
        hexes = [np.char.zfill(np.char.mod("%x", _mix(p)), 16) for p in parts]
        return np.char.add(np.char.add(hexes[0], hexes[1]), hexes[2].astype("<U8"))
