"""What every API stream declares (tap-github style): its name, endpoint path, primary key,
replication key (the field its cursor follows), the key its list sits under in a response
body, and its parent stream (a stream read per item of another, e.g. a deployment's statuses
or an incident's log entries). The shared HTTP client (collectors/http.py) does the walking;
each source's streams say only what they read."""

from __future__ import annotations

from typing import ClassVar


class Stream:
    name: ClassVar[str]
    path: ClassVar[str]  # with {placeholders} filled by the source
    primary_keys: ClassVar[tuple[str, ...]] = ("id",)
    replication_key: ClassVar[str | None] = None
    parent: ClassVar[type[Stream] | None] = None
    items_key: ClassVar[str | None] = None  # None: the body is the list

    @classmethod
    def newest(cls, after: str, items: list[dict]) -> str:
        """The cursor of an incremental walk after one page: the greatest replication key
        among the page's items and the cursor before it (ISO timestamps in one time zone
        compare as text; an item without the key leaves the cursor where it was)."""
        key = cls.replication_key
        if key is None:
            raise TypeError(f"{cls.__name__} declares no replication key: it is read whole")
        return max([after, *(str(i[key]) for i in items if i.get(key))])
