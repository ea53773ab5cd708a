"""Where the data is: a DuckDB file or a DuckLake (`ducklake:<catalog>`), parsed once from
`--db`, DORA_IMPACT_DB or the config's `db`, and passed as this value to every command, the
webhook receiver and the dashboard (which gets it back from its `--db` argument).

A lake location is a connection string, kept exactly as given: `Path` would fold its `//`
and resolve it against the working folder. A file location is made absolute once, so that a
process started elsewhere (the dashboard's server) opens the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LAKE_PREFIX = "ducklake:"


@dataclass(frozen=True)
class Location:
    text: str  # a lake's connection string as given, or a file's absolute path
    given: str = field(default="", compare=False)  # as the user wrote it: what messages show

    @classmethod
    def parse(cls, value: str | Path | Location) -> Location:
        if isinstance(value, Location):
            return value
        text = str(value)
        if text.startswith(LAKE_PREFIX):
            return cls(text, text)
        return cls(str(Path(text).expanduser().absolute()), text)

    @property
    def is_lake(self) -> bool:
        return self.text.startswith(LAKE_PREFIX)

    @property
    def path(self) -> Path:
        """The DuckDB file; a lake has none (ValueError)."""
        if self.is_lake:
            raise ValueError("a DuckLake location is not a file")
        return Path(self.text)

    def exists(self) -> bool:
        """Whether there is data to read: the file exists. A lake's catalog answers only when
        it is opened, so a lake counts as present here."""
        return self.is_lake or self.path.exists()

    def beside(self, suffix: str, lake_name: str = "dora-lake") -> Path:
        """A file that belongs with this database (e.g. the webhook spool): next to the file,
        or `<lake_name><suffix>` in the working folder for a lake."""
        if self.is_lake:
            return Path(lake_name + suffix)
        return self.path.with_name(self.path.name + suffix)

    def __str__(self) -> str:
        return self.given or self.text

    def __fspath__(self) -> str:
        # Only a file has a file-system path; a lake used as one is a bug, said loudly.
        return str(self.path)
