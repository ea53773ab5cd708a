"""Which repositories to sync: the configured `repos`, and every repository of the configured
`orgs` that the include/exclude globs select. Archived, disabled, empty and missing (404)
repositories are reported and skipped.

Listings are read with conditional requests; each page's ETag and the few fields we use are
kept in a cursor, so an unchanged organisation costs 304s only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from collectors.config import SourcesSettings
from collectors.github.client import AuthError, GitHubClient, GitHubError, NotFound, Unreachable
from collectors.github.streams import RepoInfo

KEEP = ("full_name", "default_branch", "archived", "disabled", "size", "clone_url")


def read_listing(
    client: GitHubClient, path: str, params: dict | None, cached: dict, paged: bool = True
) -> tuple[list[dict], dict]:
    """All items of a (possibly multi-page) listing, reusing cached pages that answer 304.
    The cache (url -> etag, trimmed items, next URL) lives in a warehouse cursor."""
    items: list[dict] = []
    new_cache: dict[str, dict] = {}
    url: str | None = client.url(path, {**(params or {}), **({"per_page": 100} if paged else {})})
    while url:
        old = cached.get(url)
        resp = client.request("GET", url, etag=old["etag"] if old else None)
        if resp.status_code == 304 and old:
            page_items, next_url = old["items"], old.get("next")
        else:
            data = client.decode(resp)
            data = data if isinstance(data, list) else [data]
            page_items = [{k: d.get(k) for k in KEEP} for d in data if isinstance(d, dict)]
            next_url = resp.links.get("next", {}).get("url")
        new_cache[url] = {
            "etag": resp.headers.get("ETag") or (old or {}).get("etag"),
            "items": page_items,
            "next": next_url,
        }
        items.extend(page_items)
        url = next_url
    return items, new_cache


def _keep(cache: dict[str, dict], new_cache: dict[str, dict], key: str) -> None:
    """A failed listing's cursor is not advanced: the next sync starts from what it had."""
    if key in cache:
        new_cache[key] = cache[key]


def _selected(name: str, include: list[str], exclude: list[str]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, g.lower()) for g in include) and not any(
        fnmatch.fnmatchcase(lowered, g.lower()) for g in exclude
    )


def _is_empty(client: GitHubClient, meta: dict) -> bool:
    """GitHub reports size 0 for empty repositories (and, briefly, for tiny new ones): ask
    once, and keep the answer with the cached listing until the repository changes."""
    if meta.get("size"):
        return False
    if "empty" not in meta:
        try:
            client.request("GET", client.url(f"/repos/{meta['full_name']}/commits", {"per_page": 1}))
            meta["empty"] = False
        except GitHubError as exc:
            if exc.status != 409:  # "Git Repository is empty."
                raise
            meta["empty"] = True
    return bool(meta["empty"])


def discover(
    client: GitHubClient,
    config: SourcesSettings,
    cache: dict[str, dict],
    warn: Callable[[str], None],
    fail: Callable[[str, str, Exception], None],
) -> tuple[list[RepoInfo], dict[str, dict]]:
    """(repositories to sync, new listing cache keyed by listing name).

    A listing that fails (a malformed answer, a 5xx that outlasted the retries) is passed to
    `fail` and skipped for this run, its cached pages kept for the next; the rest goes on.
    A rejected token (AuthError) or an unreachable host (Unreachable) still stops everything."""
    gh = config.github
    assert gh is not None
    new_cache: dict[str, dict] = {}
    metas: list[dict] = []
    for org in gh.orgs:
        key = f"org:{org}"
        try:
            items, new_cache[key] = read_listing(
                client, f"/orgs/{org}/repos", {"type": "all"}, cache.get(key, {})
            )
        except NotFound:
            warn(f"organisation {org}: not found (404) or not visible to the token; skipped")
            continue
        except (AuthError, Unreachable):
            raise
        except GitHubError as exc:
            _keep(cache, new_cache, key)
            fail(org, "repositories", exc)
            continue
        metas.extend(m for m in items if _selected(str(m.get("full_name")), gh.include, gh.exclude))
    listed = {m["full_name"].lower() for m in metas}
    for name in gh.repos:
        if name.lower() in listed:
            continue
        key = f"repo:{name}"
        try:
            items, new_cache[key] = read_listing(
                client, f"/repos/{name}", None, cache.get(key, {}), paged=False
            )
        except NotFound:
            warn(f"{name}: repository not found (404) or not visible to the token; skipped")
            continue
        except (AuthError, Unreachable):
            raise
        except GitHubError as exc:
            _keep(cache, new_cache, key)
            fail(name, "repository", exc)
            continue
        metas.extend(items)
    repos: list[RepoInfo] = []
    seen: set[str] = set()
    for meta in metas:
        name = str(meta["full_name"])
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        if meta.get("archived") or meta.get("disabled"):
            warn(f"{name}: archived or disabled; skipped")
            continue
        try:
            empty = _is_empty(client, meta)
        except (AuthError, Unreachable):
            raise
        except GitHubError as exc:
            fail(name, "repository", exc)
            continue
        if empty:
            warn(f"{name}: empty repository; skipped")
            continue
        override = config.repos.get(name) or next(
            (rc for key, rc in config.repos.items() if key.lower() == name.lower()), None
        )
        clone_url = (override.clone_url if override and override.clone_url else None) or meta.get("clone_url")
        repos.append(RepoInfo(name, str(meta.get("default_branch") or "main"), clone_url))
    return repos, new_cache
