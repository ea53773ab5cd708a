"""Which repositories a sync worker takes: `sync --shard K/N` (docs/scaling.md).

On a DuckLake, the assignment stored in the lake: balanced by weight, stable as repositories
are added (warehouse/sharding.py, LakeWarehouse.claim). On a DuckDB file, a hash of the name:
shard 1 + (the first 8 bytes of sha256("owner/name" in lower case), as an unsigned big-endian
number) mod N. Either way the same for every worker, so N workers take every repository
exactly once.

Each shard may use its own token (one token gives 5,000 requests an hour): the worker of
shard K reads DORA_GITHUB_TOKEN_SHARD_K first, then the usual variable ([github] token_env,
else GITHUB_TOKEN, then GH_TOKEN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collectors.secrets import env_token
from warehouse.db import Warehouse
from warehouse.errors import UserError
from warehouse.lake import LakeWarehouse
from warehouse.sharding import hash_shard

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
TOKEN_VARIABLE = "DORA_GITHUB_TOKEN_SHARD_{k}"


@dataclass(frozen=True)
class Shard:
    k: int  # 1..n
    n: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = SHARD.match(text)
        if not m:
            raise UserError(f"--shard {text!r}: expected K/N, e.g. 2/4 (shard 2 of 4)")
        k, n = int(m.group(1)), int(m.group(2))
        if n < 1 or not 1 <= k <= n:
            raise UserError(f"--shard {text!r}: K must be between 1 and N (N >= 1)")
        return cls(k, n)

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def owns(self, full_name: str) -> bool:
        """By the hash (a DuckDB file's rule; a lake's stored assignment: repos_of)."""
        return shard_of(full_name, self.n) == self.k

    def token_variable(self) -> str:
        return TOKEN_VARIABLE.format(k=self.k)

    def token(self) -> tuple[str | None, str]:
        """(this shard's own token, its variable), or (None, the variable) when it has none."""
        name = self.token_variable()
        return env_token(name), name


def shard_of(full_name: str, n: int) -> int:
    """The shard (1..n) of a repository on a DuckDB file."""
    return hash_shard(full_name, n)


def repos_of(wh: Warehouse, names: list[str], shard: Shard) -> list[str]:
    """The repositories among `names` that this shard syncs into `wh`."""
    if isinstance(wh, LakeWarehouse):
        return wh.claim(names, (shard.k, shard.n))
    return [name for name in names if shard.owns(name)]
