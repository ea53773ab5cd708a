"""Which shard of `sync --shard K/N` owns a repository (docs/scaling.md#shards).

Two rules, one per storage:

- on a DuckLake, an assignment stored in the lake (`main.shard_map`, warehouse/lake.py):
  balanced by weight and stable. A repository keeps its shard for as long as N stays; a
  repository seen for the first time goes to the lightest shard (`assign`). The weight of a
  repository is its stored rows (deployments, changes, pull requests: what a sync fetches),
  the median weight for one not synced yet. `dora-impact maintain --reshard N` assigns every
  repository anew for a new N (`balance`).
- on a DuckDB file, where shard workers run one after another anyway, a hash: shard
  1 + (the first 8 bytes of sha256("owner/name" in lower case)) mod N, stable across runs,
  machines and Python versions (never Python's salted hash()).
"""

from __future__ import annotations

import hashlib
import statistics


def hash_shard(full_name: str, n: int) -> int:
    """The shard (1..n) of a repository by its name alone."""
    digest = hashlib.sha256(full_name.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def weight_of(weights: dict[str, float], repo: str) -> float:
    """A repository's weight: its stored rows, else (never synced) the median of the known."""
    if repo in weights:
        return max(weights[repo], 1.0)
    known = [w for w in weights.values() if w > 0]
    return max(statistics.median(known), 1.0) if known else 1.0


def assign(
    current: dict[str, int], new: list[str], n: int, weights: dict[str, float]
) -> dict[str, int]:
    """Shards for `new` repositories, leaving `current` as it is: the heaviest new one first,
    each to the shard with the least weight so far (the lower K on a tie). Deterministic: every
    worker computes the same from the same stored state."""
    load = {k: 0.0 for k in range(1, n + 1)}
    for repo, k in current.items():
        if k in load:
            load[k] += weight_of(weights, repo)
    out: dict[str, int] = {}
    for repo in sorted(set(new) - set(current), key=lambda r: (-weight_of(weights, r), r.lower())):
        k = min(load, key=lambda s: (load[s], s))
        out[repo] = k
        load[k] += weight_of(weights, repo)
    return out


def balance(repos: list[str], n: int, weights: dict[str, float]) -> dict[str, int]:
    """Every repository assigned anew over n shards (longest processing time first)."""
    return assign({}, repos, n, weights)
