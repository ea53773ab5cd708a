"""Which repositories a sync worker takes: `sync --shard K/N` (docs/scaling.md).

A repository belongs to shard 1 + (the first 8 bytes of sha256("owner/name" in lower case),
as an unsigned big-endian number) mod N: stable across runs, machines and Python versions
(never Python's salted hash()), independent of the order GitHub lists repositories in, and
the same for every worker, so N workers take every repository exactly once.

Each shard may use its own token (one token gives 5,000 requests an hour): the worker of
shard K reads DORA_GITHUB_TOKEN_SHARD_K first, then the usual variable ([github] token_env,
else GITHUB_TOKEN, then GH_TOKEN).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from collectors.secrets import env_token
from warehouse.errors import UserError

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
        return shard_of(full_name, self.n) == self.k

    def token_variable(self) -> str:
        return TOKEN_VARIABLE.format(k=self.k)

    def token(self) -> tuple[str | None, str]:
        """(this shard's own token, its variable), or (None, the variable) when it has none."""
        name = self.token_variable()
        return env_token(name), name


def shard_of(full_name: str, n: int) -> int:
    """The shard (1..n) that owns a repository."""
    digest = hashlib.sha256(full_name.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % n + 1
