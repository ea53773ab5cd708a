"""The synthetic demo organisation: two years of a realistic org with known platform effects.

`generate_org` returns canonical frames (collectors/records.py) for teams, deployments,
changes, pull_requests, reviews, incidents and initiatives; `load_demo` loads them through
`Warehouse.load(..., source="demo")`, the upsert path every import uses.

Everything is drawn by one seeded numpy generator, vectorised (no per-row Python loops), so
the same (seed, end, weeks) always gives identical frames.

How the history is built (times are hours since the window start, UTC):
1. successful production deployments per repository and day: Poisson counts whose rate is
   repo base x weekday x holiday x org trend x org-week and team-week noise x the injected
   deployment-frequency effect;
2. some deployments are *bad* (probability x the injected change-fail-rate effect): they cause
   an incident (with detection and resolution times x the recovery effect) and/or the next
   deployment of the repository becomes a hotfix or a rollback, pulled forward to when the fix
   lands; deployment runs that fail (status failure) are retried;
3. each successful deployment ships a batch of pull requests merged since the previous one;
   each pull request has commits, a coding, pickup and review time (review waits x the
   injected effect; the deploy platform adds an approval by a platform-team member) and
   reviews; a change's deployment_id is therefore always the deployment that first shipped it;
4. staging deployments before most production ones, preview deployments (environment
   "preview") for pull requests of teams that adopted preview environments, and incidents not
   caused by any deployment.

The two initiatives and what they do are in INJECTED_EFFECTS (docs/demo-org.md).
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from warehouse.schema import (
    CHANGES,
    DEPLOYMENTS,
    INCIDENTS,
    INITIATIVES,
    PULL_REQUESTS,
    REVIEWS,
    TEAMS,
    Entity,
)

if TYPE_CHECKING:
    from warehouse.db import LoadCounts, Warehouse

OWNER = "acme"

# Team -> repositories (without the owner). 12 teams, 49 repositories.
TEAM_REPOS: dict[str, tuple[str, ...]] = {
    "checkout": ("checkout-api", "checkout-web", "cart-service", "promo-engine"),
    "payments": ("payments-api", "payments-gateway", "ledger", "fraud-scoring"),
    "search": ("search-api", "search-indexer", "ranking-service", "autocomplete"),
    "catalog": ("catalog-api", "catalog-admin", "pricing-service", "inventory-sync"),
    "identity": ("identity-api", "auth-gateway", "user-profile", "sso-bridge"),
    "growth": ("growth-experiments", "landing-pages", "referral-service", "web-storefront"),
    "mobile": ("mobile-bff", "ios-app-config", "android-app-config", "feature-flags"),
    "fulfilment": ("fulfilment-api", "shipping-rates", "returns-service", "order-router"),
    "notifications": ("notifications-api", "email-sender", "push-service", "sms-relay"),
    "data": ("events-pipeline", "warehouse-loader", "reporting-api", "ml-features"),
    "support": ("helpdesk-api", "support-portal", "chat-widget", "knowledge-base"),
    "platform": ("deploy-pipeline", "infra-modules", "service-catalog", "observability-stack",
                 "k8s-config"),
}

# How often each team's repositories deploy, relative to each other. The deploy platform's
# adopters are the busy product teams, as platform roll-outs usually start with them (and the
# larger the adopters' volume, the tighter the estimates of the effect).
_TEAM_CADENCE: dict[str, float] = {
    "checkout": 1.4, "payments": 1.2, "search": 1.3, "catalog": 1.1, "identity": 1.0,
    "growth": 1.2, "mobile": 0.8, "fulfilment": 1.0, "notifications": 0.9, "data": 0.8,
    "support": 0.7, "platform": 0.9,
}

# Team -> first names; a person's login is "<name>.<team>" (see PEOPLE).
_ROSTER: dict[str, tuple[str, ...]] = {
    "checkout": ("alice", "bruno", "chen", "dana", "emil", "fatima", "gus"),
    "payments": ("hana", "ivan", "jonas", "kemi", "lars", "mira"),
    "search": ("nadia", "omar", "petra", "quinn", "rosa", "sven", "tariq"),
    "catalog": ("uma", "victor", "wen", "xavier", "yara", "zoe"),
    "identity": ("aiko", "bilal", "carla", "dev", "elena", "farid"),
    "growth": ("greta", "hugo", "ines", "jamal", "kira", "leo", "maya"),
    "mobile": ("nils", "olga", "pablo", "rania", "sami", "tess"),
    "fulfilment": ("ugo", "vera", "wyatt", "ximena", "yusuf", "zara"),
    "notifications": ("amir", "beth", "cyril", "dora", "ezra", "flora"),
    "data": ("gia", "hiro", "ida", "joel", "kai", "lena", "marek"),
    "support": ("nora", "oscar", "pia", "raj", "sofia", "theo"),
    "platform": ("adele", "boris", "clara", "diego", "eva", "felix", "gwen", "henrik"),
}

PEOPLE: dict[str, str] = {
    f"{name}.{team}": team for team, names in _ROSTER.items() for name in names
}
"""Every author and reviewer login -> their team. Logins end in ".<team>" as well."""

INJECTED_EFFECTS: dict[str, dict[str, Any]] = {
    "deploy-platform": {
        "kind": "deploy platform",
        "cohorts": [
            {"teams": ["checkout", "payments", "search"], "weeks_before_end": 52},
            {"teams": ["catalog", "identity"], "weeks_before_end": 42},
        ],
        "ramp_weeks": 4,
        # The truth the impact analysis should find for the adopting teams after the ramp:
        # DORA 2024 for more platform focus, throughput -8 % and instability +14 %.
        "effects": {
            "deployment_frequency": 0.92,
            "lead_time": 1.08,
            "recovery_time": 1.08,
            "change_fail_rate": 1.14,
            "rework_rate": 1.14,
        },
        "factors": {"throughput": 0.92, "instability": 1.14},
        # How the generator produces those effects. Every pull request of an adopting team
        # needs an approval from a platform-team member (handoff_team) and its pickup and
        # review waits are x review_wait; detection, resolution and fix times are
        # x recovery_scale. Fewer deployments also lengthen deploy waits and the gaps a fix
        # waits for, so both values are calibrated (simulations in docs/demo-org.md)
        # to give the `effects` above on the metrics as docs/metrics.md defines them.
        # The probability of a bad deployment and of a failed run is x failure_rate (failed
        # runs also sit in the fail rate's denominator, so the knob turns a bit further than
        # the metric). The deployment rate takes the metric's effect, x0.92.
        "process": {
            "handoff_team": "platform", "review_wait": 1.163, "recovery_scale": 1.09, "failure_rate": 1.145,
        },
        "description": "Central deploy platform: pipelines move to the platform team's "
        "deploy service, whose changes need a platform-team approval.",
    },
    "preview-environments": {
        "kind": "environments",
        "cohorts": [{"teams": ["growth", "mobile", "fulfilment"], "weeks_before_end": 46}],
        "ramp_weeks": 4,
        "effects": {
            "deployment_frequency": 1.15,
            "lead_time": 0.85,
            "recovery_time": 1.0,
            "change_fail_rate": 0.80,
            # Fewer bad deployments mean fewer hotfixes and rollbacks: rework moves with them.
            "rework_rate": 0.80,
        },
        "factors": {"throughput": 1.15, "instability": 0.80},
        # Each pull request gets deployments to the "preview" environment, reviewers try it
        # there: pickup and review waits x review_wait; failures x failure_rate;
        # recovery_scale offsets fixes shipping sooner with more deployments. All calibrated
        # like the deploy platform's.
        "process": {
            "preview_deployments": True, "review_wait": 0.687, "failure_rate": 0.793, "recovery_scale": 1.02,
        },
        "description": "Every pull request gets a preview environment that reviewers can try.",
        # The adoption curve: production deployments that shipped a pull request previewed here.
        "adoption_environment": "^preview$",
    },
}
"""The injected effects: adopting cohorts (weeks before `end` when each starts), the ramp,
and the multiplicative effect per DORA metric once the ramp is over. `injected_effects(end)`
resolves the cohorts to dates and lists the control teams."""

# Generating knob -> the metric it moves.
_KNOBS = {
    "deployment_rate": "deployment_frequency",
    "failure_rate": "change_fail_rate",
    "recovery_scale": "recovery_time",
}
_WEEK_H = 7 * 24.0
_MIN_GAP_H = 0.5  # two production deployments of one repository are at least 30 min apart
_PRE_HISTORY_H = 72.0  # the first deployment of a repo ships what was merged in the 3 days before
_ENVIRONMENTS = ("production", "staging", "preview")


def default_end(today: date | None = None) -> date:
    """Monday of the current week (UTC): the demo always ends now."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


def window(end: date | None = None, weeks: int = 104) -> tuple[date, date]:
    """(first day, day after the last) of the generated history; `end` snaps to its Monday."""
    end = default_end(end)
    return end - timedelta(weeks=weeks), end


def injected_effects(end: date | None = None) -> dict[str, dict[str, Any]]:
    """INJECTED_EFFECTS with each cohort's `started_on`, all adopting `teams` and the
    `control_teams` (teams that adopted no initiative) for a history ending at `end`."""
    return _resolve(INJECTED_EFFECTS, end)


def _resolve(effects: dict[str, dict[str, Any]], end: date | None) -> dict[str, dict[str, Any]]:
    _, stop = window(end)
    resolved = copy.deepcopy(effects)
    adopters: set[str] = set()
    for spec in resolved.values():
        for cohort in spec["cohorts"]:
            cohort["started_on"] = stop - timedelta(weeks=cohort["weeks_before_end"])
        spec["teams"] = [t for c in spec["cohorts"] for t in c["teams"]]
        spec["started_on"] = min(c["started_on"] for c in spec["cohorts"])
        adopters.update(spec["teams"])
    controls = [t for t in TEAM_REPOS if t not in adopters]
    for spec in resolved.values():
        spec["control_teams"] = controls
    return resolved


def people_teams() -> pl.DataFrame:
    """login -> team for every person of the demo org (for counting cross-team reviews)."""
    return pl.DataFrame({"login": list(PEOPLE), "team": list(PEOPLE.values())})


def load_demo(
    wh: Warehouse, seed: int = 7, end: date | None = None, weeks: int = 104
) -> dict[str, LoadCounts]:
    """Generate the demo org and upsert it in one transaction, as any import would."""
    return wh.load(generate_org(seed, end, weeks), source="demo")


def generate_org(seed: int = 7, end: date | None = None, weeks: int = 104) -> dict[str, pl.DataFrame]:
    """The demo org's canonical frames, deterministic for a given (seed, end, weeks)."""
    return _Org(seed, end, weeks, INJECTED_EFFECTS).frames()


# ---------------------------------------------------------------------------------------------
# The generator.


class _Schedule:
    """Who adopted what when: adoption fraction (0 before, ramping linearly to 1) per row."""

    def __init__(self, effects: dict[str, dict[str, Any]], teams: list[str], weeks: int) -> None:
        self.effects = effects
        self.cohorts: list[tuple[str, np.ndarray, float, float]] = []
        for name, spec in effects.items():
            for cohort in spec["cohorts"]:
                if cohort["weeks_before_end"] + 8 > weeks:
                    raise ValueError(f"{name}: needs at least {cohort['weeks_before_end'] + 8} weeks")
                mask = np.isin(np.array(teams), cohort["teams"])
                start = (weeks - cohort["weeks_before_end"]) * _WEEK_H
                self.cohorts.append((name, mask, start, spec["ramp_weeks"] * _WEEK_H))

    def adoption(self, name: str, team: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.zeros(len(t))
        for cohort, mask, start, ramp in self.cohorts:
            if cohort != name:
                continue
            frac = np.clip((t - start) / ramp, 0, 1) if ramp > 0 else (t >= start).astype(float)
            out = np.where(mask[team], frac, out)
        return out

    def multiplier(self, knob: str, team: np.ndarray, t: np.ndarray) -> np.ndarray:
        """How much an initiative turns a generating knob (a rate or a time scale), ramping
        geometrically: the metric's effect itself, unless the initiative's "process" gives a
        calibrated value for the knob."""
        log = np.zeros(len(t))
        for name, spec in self.effects.items():
            m = spec.get("process", {}).get(knob, spec["effects"].get(_KNOBS[knob], 1.0))
            if m != 1.0:
                log += self.adoption(name, team, t) * math.log(m)
        return np.exp(log)


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """True on the first row of each run of equal keys (rows sorted by key)."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)


def _rank_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of the given sizes, concatenated."""
    total = int(counts.sum())
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - offsets


class _Org:
    def __init__(self, seed: int, end: date | None, weeks: int, effects: dict[str, dict[str, Any]]):
        self.rng = np.random.default_rng(seed)
        self.start, self.end = window(end, weeks)
        self.weeks = weeks
        self.horizon = weeks * _WEEK_H
        self.effects = effects
        self.teams = list(TEAM_REPOS)
        self.repos = np.array([f"{OWNER}/{r}" for t in self.teams for r in TEAM_REPOS[t]])
        self.repo_team = np.array([i for i, t in enumerate(self.teams) for _ in TEAM_REPOS[t]])
        self.schedule = _Schedule(effects, self.teams, weeks)
        logins = [f"{n}.{t}" for t in self.teams for n in _ROSTER[t]]
        self.logins = np.array(logins)
        sizes = np.array([len(_ROSTER[t]) for t in self.teams])
        self.team_size = sizes
        self.team_first = np.cumsum(sizes) - sizes
        self.start_us = int(datetime(self.start.year, self.start.month, self.start.day,
                                     tzinfo=UTC).timestamp()) * 1_000_000
        # Traits of each repo and team, drawn before anything whose count varies, so that the
        # same seed gives the same org whatever the effects are.
        rng, n_teams = self.rng, len(self.teams)
        team_rate = np.array([_TEAM_CADENCE[t] for t in self.teams])
        self.repo_rate = rng.lognormal(0, 0.5, len(self.repos)) * team_rate[self.repo_team]
        self.repo_staging = rng.random(len(self.repos)) < 0.7
        self.team_bad_rate = rng.uniform(0.06, 0.11, n_teams)  # deployments needing intervention
        self.team_fail_rate = rng.uniform(0.03, 0.06, n_teams)  # deployment runs that fail
        self.team_pace = rng.lognormal(0, 0.25, n_teams)  # review waits
        self.org_noise = rng.lognormal(0, 0.06, weeks)  # weeks the whole org ships more or less
        self.team_noise = rng.lognormal(0, 0.10, (n_teams, weeks))

    # -- small helpers ------------------------------------------------------------------------
    def lognormal(self, median_h: float, sigma: float, n: int) -> np.ndarray:
        return self.rng.lognormal(math.log(median_h), sigma, n)

    def member(self, team: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """A random member of each team (index into self.logins), or author + offset."""
        size = self.team_size[team]
        pick = self.rng.integers(0, size) if offset is None else offset % size
        return self.team_first[team] + pick

    def shas(self, n: int) -> np.ndarray:
        text = self.rng.bytes(20 * n).hex()
        return np.array([text[i:i + 40] for i in range(0, 40 * n, 40)])

    def timestamps(self, hours: np.ndarray) -> pl.Series:
        """Hours since the window start -> UTC timestamps to the second, as GitHub gives them
        (NaN -> null)."""
        us = np.round(np.nan_to_num(hours) * 3600).astype(np.int64) * 1_000_000 + self.start_us
        series = pl.Series(us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        return series.scatter(np.flatnonzero(np.isnan(hours)), None) if np.isnan(hours).any() else series

    @staticmethod
    def frame(entity: Entity, columns: dict[str, Any]) -> pl.DataFrame:
        # Object arrays (strings with None) go in as lists so polars types them as strings.
        columns = {
            k: v.tolist() if isinstance(v, np.ndarray) and v.dtype == object else v
            for k, v in columns.items()
        }
        # Every canonical column, in order; optional ones the generator does not make are null.
        return pl.DataFrame(columns).select(
            pl.col(n).cast(t) if n in columns else pl.lit(None, dtype=t).alias(n)
            for n, t in entity.schema().items()
        )

    # -- 1. the calendar ------------------------------------------------------------------------
    def day_factors(self) -> np.ndarray:
        """Relative activity per day: weekday rhythm x holidays x a mild org-wide growth."""
        days = np.datetime64(self.start) + np.arange(self.weeks * 7)
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        month = days.astype("M8[M]").astype(np.int64) % 12 + 1
        dom = (days - days.astype("M8[M]")).astype(np.int64) + 1
        rhythm = np.array([1.0, 1.15, 1.15, 1.05, 0.7, 0.06, 0.04])[weekday]
        holiday = np.ones(len(days))
        holiday[month == 8] = 0.72  # summer lull
        holiday[((month == 12) & (dom >= 20)) | ((month == 1) & (dom <= 6))] = 0.45
        holiday[((month == 12) & (dom >= 24)) | ((month == 1) & (dom <= 1))] = 0.12
        growth = np.exp(0.09 * np.arange(len(days)) / 365.0)  # +9 % a year, every team
        return rhythm * holiday * growth

    # -- 2. successful production deployments -----------------------------------------------------
    def production(self) -> dict[str, np.ndarray]:
        rng, n_repos, n_days = self.rng, len(self.repos), self.weeks * 7
        structural = self.repo_rate[:, None] * self.day_factors()[None, :]
        # ~28,500 production deployments in two years (scaled with the length of the history).
        structural *= 28_500 * self.weeks / 104 / structural.sum()
        week = np.arange(n_days) // 7
        org_noise = self.org_noise[week]
        team_noise = self.team_noise[:, week][self.repo_team]
        midday = (np.arange(n_days) + 0.5) * 24
        effect = np.stack([
            self.schedule.multiplier("deployment_rate", np.full(n_days, self.repo_team[r]), midday)
            for r in range(n_repos)
        ])
        counts = rng.poisson(structural * org_noise[None, :] * team_noise * effect)
        cell = np.repeat(np.arange(n_repos * n_days), counts.ravel())
        repo, day = cell // n_days, cell % n_days
        t = day * 24 + np.clip(rng.normal(13.5, 2.8, len(cell)), 4.0, 23.9)
        order = np.lexsort((t, repo))
        repo, t = repo[order], t[order]
        # Enforce the minimum gap within each repo: t'_k = max(t_k, t'_{k-1} + gap), as a
        # running maximum of t_k - k*gap (repos offset so one never lifts the next).
        k = _rank_in_group(np.bincount(repo, minlength=n_repos))
        lift = repo * (self.horizon * 10)
        t = np.maximum.accumulate(t - k * _MIN_GAP_H + lift) - lift + k * _MIN_GAP_H
        keep = t < self.horizon
        return {"repo": repo[keep], "t": t[keep]}

    # -- 3. bad deployments, incidents, hotfixes and rollbacks ---------------------------------------
    def failures(self, dep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng, repo, t0 = self.rng, dep["repo"], dep["t"]
        n = len(t0)
        team = self.repo_team[repo]
        has_next = np.r_[repo[1:] == repo[:-1], False]
        cfr = self.schedule.multiplier("failure_rate", team, t0)
        rec = self.schedule.multiplier("recovery_scale", team, t0)
        bad = rng.random(n) < self.team_bad_rate[team] * cfr
        incident = bad & (rng.random(n) < 0.6)
        u = rng.random(n)
        # What the next deployment of the repo becomes: 1 hotfix, 2 rollback, 0 nothing.
        follow = np.where(incident, np.where(u < 0.55, 1, np.where(u < 0.65, 2, 0)),
                          np.where(u < 0.75, 1, 2))
        follow = np.where(bad & has_next, follow, 0)
        detect = self.lognormal(0.35, 0.8, n) * rec
        resolve = self.lognormal(3.0, 1.3, n) * rec
        fix_wait = np.where(
            follow == 2,
            self.lognormal(0.6, 0.8, n),
            np.where(incident, resolve * rng.uniform(0.5, 0.95, n), self.lognormal(2.5, 1.0, n)),
        ) * rec
        delta = np.maximum(np.where(incident, detect, 0) + fix_wait, _MIN_GAP_H)
        # Pull the fixing deployment forward to when the fix lands (never later than it was
        # planned). A fix can itself be bad, so repeat until chains settle.
        t = t0.copy()
        fixes = np.r_[follow[:-1] > 0, False] if n else np.zeros(0, bool)
        fixed_by = np.flatnonzero(fixes)
        for _ in range(4):
            t[fixed_by + 1] = np.minimum(t0[fixed_by + 1], t[fixed_by] + delta[fixed_by])
        return {
            **dep, "t": t, "team": team, "bad": bad, "incident": incident,
            "detect": detect, "resolve": resolve, "cfr": cfr, "rec": rec,
            "is_hotfix": np.r_[False, follow[:-1] == 1] if n else np.zeros(0, bool),
            "is_rollback": np.r_[False, follow[:-1] == 2] if n else np.zeros(0, bool),
        }

    # -- 4. deployment runs that failed, and the windows in which each batch was merged -----------
    def runs(self, dep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng, t, repo = self.rng, dep["t"], dep["repo"]
        n = len(t)
        duration = np.clip(self.lognormal(0.1, 0.5, n), 1 / 60, 0.25)
        started = t - duration
        first = _group_starts(repo)
        prev_finish = np.where(first, started - _PRE_HISTORY_H, np.r_[0.0, t[:-1]])
        gap = started - prev_finish
        planned = ~(dep["is_hotfix"] | dep["is_rollback"])
        failed_run = planned & (rng.random(n) < self.team_fail_rate[dep["team"]] * dep["cfr"])
        retry = np.minimum((1 / 6 + self.lognormal(0.6, 0.9, n)) * dep["rec"], 0.5 * gap)
        fail_finish = started - retry
        fail_started = fail_finish - np.minimum(duration, 0.25 * gap)
        # Everything a deployment ships was merged before its first attempt started.
        merge_end = np.where(failed_run, fail_started, started)
        pipeline = np.minimum(self.lognormal(0.2, 0.6, n), 0.4 * (merge_end - prev_finish))
        return {**dep, "started": started, "prev_finish": prev_finish, "failed_run": failed_run,
                "fail_finish": fail_finish, "fail_started": fail_started,
                "merge_end": merge_end, "pipeline": pipeline}

    # -- 5. pull requests ---------------------------------------------------------------------
    def pull_requests(self, dep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng, n_dep = self.rng, len(dep["t"])
        n_pr = np.where(dep["is_rollback"], 0, np.where(dep["is_hotfix"], 1, 1 + rng.poisson(0.85, n_dep)))
        d = np.repeat(np.arange(n_dep), n_pr)
        n = len(d)
        k = _rank_in_group(n_pr)
        team, t = dep["team"][d], dep["t"][d]
        hotfix = dep["is_hotfix"][d]
        lo, hi = dep["prev_finish"][d], dep["merge_end"][d] - dep["pipeline"][d]
        # The first pull request of a batch triggers the deployment; the others were merged
        # while the previous deployment was live.
        merged = np.where(k == 0, hi, lo + rng.uniform(0.02, 0.98, n) * (hi - lo))
        # Review waits: a per-team pace, an org that slowly gets quicker (-6 % a year), and the
        # initiatives' process changes.
        wait = np.exp(-0.06 * t / (365 * 24)) * self.team_pace[team]
        handoff = np.zeros(n, bool)
        for name, spec in self.effects.items():
            process = spec.get("process", {})
            adopted = self.schedule.adoption(name, team, t)
            if "handoff_team" in process:
                # The new approval step exists or not: its whole wait applies per PR.
                step = (rng.random(n) < adopted) & ~hotfix
                handoff |= step
                wait *= np.where(step, process["review_wait"], 1.0)
            else:
                wait *= process.get("review_wait", 1.0) ** adopted
        pickup = np.where(hotfix, self.lognormal(0.2, 0.6, n), self.lognormal(2.5, 1.2, n) * wait)
        review = np.where(hotfix, self.lognormal(0.3, 0.6, n), self.lognormal(4.0, 1.1, n) * wait)
        coding = np.where(hotfix, self.lognormal(1.0, 0.7, n), self.lognormal(14.0, 1.3, n))
        merge_delay = np.minimum(self.lognormal(0.2, 0.8, n), 0.5 * review)
        approved = merged - merge_delay
        first_review = approved - review
        created = first_review - pickup
        preview_env = np.zeros(n, bool)
        for name, spec in self.effects.items():
            if spec.get("process", {}).get("preview_deployments"):
                preview_env |= (rng.random(n) < self.schedule.adoption(name, team, t)) & ~hotfix
        author = self.member(team)
        return {
            "dep": d, "team": team, "t": t, "hotfix": hotfix, "handoff": handoff,
            "preview_env": preview_env, "author": author, "repo": dep["repo"][d],
            "merged": merged, "approved": approved, "first_review": first_review,
            "created": created, "first_commit": created - coding,
        }

    # -- 6. commits ----------------------------------------------------------------------------------
    def commits(self, pr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng, n_pr = self.rng, len(pr["dep"])
        n_c = np.where(pr["hotfix"], 1, rng.geometric(0.45, n_pr))
        p = np.repeat(np.arange(n_pr), n_c)
        n = len(p)
        j = _rank_in_group(n_c)
        first, created = pr["first_commit"][p], pr["created"][p]
        t = np.where(j == 0, first, first + rng.uniform(0, 1, n) * (created - first))
        # A quarter of multi-commit PRs get a fix-up commit during review.
        fixup = (j == n_c[p] - 1) & (j > 0) & (rng.random(n_pr) < 0.25)[p]
        t = np.where(fixup, pr["first_review"][p] + rng.uniform(0.1, 0.9, n)
                     * (pr["approved"][p] - pr["first_review"][p]), t)
        order = np.lexsort((t, p))
        p, t = p[order], t[order]
        sha = self.shas(n)
        last = np.r_[p[1:] != p[:-1], True] if n else np.zeros(0, bool)
        merge_sha = np.empty(n_pr, dtype=object)
        merge_sha[p[last]] = sha[last]
        return {"pr": p, "t": t, "sha": sha, "merge_sha": merge_sha}

    # -- 7. reviews ------------------------------------------------------------------------------------
    def reviews(self, pr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Review rows: a teammate reviews first; if that was no approval, they approve later
        (or a second teammate does); sometimes a second teammate or another team comments;
        with the deploy platform a platform-team member gives the last approval."""
        rng, n = self.rng, len(pr["dep"])
        team, author = pr["team"], pr["author"]
        size = self.team_size[team]
        off1 = rng.integers(1, size)
        off2 = 1 + (off1 - 1 + rng.integers(1, size - 1)) % (size - 1)  # != off1, != 0
        mate1 = self.member(team, author - self.team_first[team] + off1)
        mate2 = self.member(team, author - self.team_first[team] + off2)
        fr, ap = pr["first_review"], pr["approved"]
        span = ap - fr
        handoff = pr["handoff"]
        team_approval = np.where(handoff, fr + rng.uniform(0.3, 0.8, n) * span, ap)
        u = rng.random(n)
        first_state = np.where(u < 0.25, "CHANGES_REQUESTED", np.where(u < 0.7, "COMMENTED", "APPROVED"))
        mate2_approves = first_state == "APPROVED"  # a second approval is the one merge waits for
        mate2_comments = ~mate2_approves & (rng.random(n) < 0.3)
        # Another product team (never the author's, never the platform team) now and then.
        platform = self.teams.index("platform")
        others = np.array([i for i in range(len(self.teams)) if i != platform])
        own = np.searchsorted(others, team)
        other_team = others[(own + rng.integers(1, len(others), n)) % len(others)]
        cross = (rng.random(n) < 0.07) & ~pr["hotfix"]
        handoff_team = next(
            (self.teams.index(s["process"]["handoff_team"]) for s in self.effects.values()
             if "handoff_team" in s.get("process", {})), platform,
        )
        idx = np.arange(n)
        parts = [
            (idx, mate1, first_state, fr),
            (idx[first_state != "APPROVED"], mate1, "APPROVED", team_approval),
            (idx[mate2_approves], mate2, "APPROVED", team_approval),
            (idx[mate2_comments], mate2, "COMMENTED", fr + rng.uniform(0, 1, n) * span),
            (idx[cross], self.member(other_team), "COMMENTED", fr + rng.uniform(0, 1, n) * span),
            (idx[handoff], self.member(np.full(n, handoff_team)), "APPROVED", ap),
        ]
        rows_pr, rows_who, rows_state, rows_t = [], [], [], []
        for which, who, state, when in parts:
            rows_pr.append(which)
            rows_who.append(who[which])
            rows_state.append(np.broadcast_to(np.asarray(state), n)[which])
            rows_t.append(when[which])
        review_pr = np.concatenate(rows_pr)
        review_t = np.concatenate(rows_t)
        order = np.lexsort((review_t, review_pr))
        return {"pr": review_pr[order], "who": np.concatenate(rows_who)[order],
                "state": np.concatenate(rows_state)[order], "t": review_t[order]}

    # -- 8. incidents ------------------------------------------------------------------------------------
    def incidents(self, dep: dict[str, np.ndarray], dep_ids: np.ndarray) -> pl.DataFrame:
        rng = self.rng
        caused = np.flatnonzero(dep["incident"])
        opened = dep["t"][caused] + dep["detect"][caused]
        resolved = opened + dep["resolve"][caused]
        repo = dep["repo"][caused]
        cause = dep_ids[caused].astype(object)
        # Incidents no deployment caused (capacity, vendors, ...): ~15 % of all.
        n_bg = rng.poisson(0.18 * len(caused))
        bg_repo = rng.choice(len(self.repos), n_bg, p=np.bincount(dep["repo"], minlength=len(self.repos))
                             / len(dep["repo"]))
        bg_open = rng.uniform(0, self.horizon, n_bg)
        opened = np.r_[opened, bg_open]
        resolved = np.r_[resolved, bg_open + self.lognormal(3.0, 1.3, n_bg)]
        resolved = np.where(resolved < self.horizon, resolved, np.nan)  # still open at the end
        repo = np.r_[repo, bg_repo]
        cause = np.r_[cause, np.full(n_bg, None, dtype=object)]
        severity = rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"], len(opened), p=[0.05, 0.2, 0.5, 0.25])
        keep = opened < self.horizon
        order = np.argsort(opened[keep], kind="stable")
        n = int(keep.sum())
        return self.frame(INCIDENTS, {
            "incident_id": [f"INC-{i + 1:05d}" for i in range(n)],
            "opened_at": self.timestamps(opened[keep][order]),
            "resolved_at": self.timestamps(resolved[keep][order]),
            "repo": self.repos[repo[keep][order]],
            "service": [r.split("/", 1)[1] for r in self.repos[repo[keep][order]]],
            "team": np.array(self.teams)[self.repo_team[repo[keep][order]]],
            "severity": severity[keep][order],
            "deployment_id": cause[keep][order],
        })

    # -- assembly ------------------------------------------------------------------------------------
    def frames(self) -> dict[str, pl.DataFrame]:
        rng = self.rng
        dep = self.runs(self.failures(self.production()))
        pr = self.pull_requests(dep)
        commits = self.commits(pr)
        reviews = self.reviews(pr)
        n_dep, n_pr = len(dep["t"]), len(pr["dep"])

        # The sha a deployment runs: head of main after its last merged PR; a rollback runs
        # the sha that was live before the bad deployment.
        head = np.full(n_dep, None, dtype=object)
        last_pr = np.r_[pr["dep"][1:] != pr["dep"][:-1], True] if n_pr else np.zeros(0, bool)
        head[pr["dep"][last_pr]] = commits["merge_sha"][np.flatnonzero(last_pr)]
        for _ in range(3):  # a rollback's sha is the one two deployments back
            back2 = np.r_[None, None, head[:-2]] if n_dep > 2 else head
            head = np.where(dep["is_rollback"] & (np.r_[0, 0, dep["repo"][:-2]] == dep["repo"]), back2, head)

        # Every deployment row: production successes, failed production runs, staging before
        # most planned production deployments, preview deployments of pull requests.
        staged = ~(dep["is_hotfix"] | dep["is_rollback"]) & self.repo_staging[dep["repo"]]
        staged &= rng.random(n_dep) < 0.8
        stage_finish = dep["merge_end"] - dep["pipeline"] * rng.uniform(0.1, 0.5, n_dep)
        fr = dep["failed_run"]
        pv = pr["preview_env"]
        preview_finish = pr["created"] + self.lognormal(0.25, 0.5, n_pr)
        parts = {
            "repo": [dep["repo"], dep["repo"][fr], dep["repo"][staged], pr["repo"][pv]],
            "environment": [np.zeros(n_dep, int), np.zeros(fr.sum(), int), np.ones(staged.sum(), int),
                            np.full(pv.sum(), 2)],
            "failed": [np.zeros(n_dep, bool), np.ones(fr.sum(), bool),
                       rng.random(staged.sum()) < 0.04, np.zeros(pv.sum(), bool)],
            "finished": [dep["t"], dep["fail_finish"][fr], stage_finish[staged], preview_finish[pv]],
            "started": [dep["started"], dep["fail_started"][fr], stage_finish[staged] - 0.05,
                        preview_finish[pv] - 0.08],
            "sha": [head, head[fr], head[staged], commits["merge_sha"][pv]],
            "hotfix": [dep["is_hotfix"], np.zeros(fr.sum(), bool), np.zeros(staged.sum(), bool),
                       np.zeros(pv.sum(), bool)],
            "rollback": [dep["is_rollback"], np.zeros(fr.sum(), bool), np.zeros(staged.sum(), bool),
                         np.zeros(pv.sum(), bool)],
        }
        rows = {name: np.concatenate(values) for name, values in parts.items()}
        # Ids in order of finish time, so they read chronologically.
        rank = np.empty(len(rows["finished"]), np.int64)
        rank[np.argsort(rows["finished"], kind="stable")] = np.arange(len(rank))
        ids = np.array([f"D{i + 1:06d}" for i in range(len(rank))])[rank]
        dep_ids = ids[:n_dep]  # production successes come first in `rows`
        repo_names = self.repos[rows["repo"]]
        deployments = self.frame(DEPLOYMENTS, {
            "deployment_id": ids,
            "repo": repo_names,
            "environment": np.array(_ENVIRONMENTS)[rows["environment"]],
            "status": np.where(rows["failed"], "failure", "success"),
            "finished_at": self.timestamps(rows["finished"]),
            "started_at": self.timestamps(rows["started"]),
            "sha": rows["sha"],
            "team": np.array(self.teams)[self.repo_team[rows["repo"]]],
            "service": [r.split("/", 1)[1] for r in repo_names],
            "is_rollback": rows["rollback"],
            "is_hotfix": rows["hotfix"],
        }).sort("finished_at", "deployment_id")

        # Pull request numbers count up per repository in order of creation.
        labels = rng.choice(["feature", "bug", "chore", "dependencies", "refactor"], n_pr,
                            p=[0.45, 0.25, 0.12, 0.1, 0.08])
        labels = np.where(pr["hotfix"], "hotfix;bug", labels)
        labels = np.where(pr["preview_env"], np.char.add(labels.astype(str), ";preview"), labels)
        prs = pl.DataFrame({
            "i": np.arange(n_pr), "repo": self.repos[pr["repo"]], "created": pr["created"],
        }).with_columns(
            number=pl.col("created").rank("ordinal").over("repo").cast(pl.Int64)
        )
        number = prs["number"].to_numpy()
        reviewers = (
            pl.DataFrame({"i": reviews["pr"], "who": self.logins[reviews["who"]]})
            .group_by("i", maintain_order=True)
            .agg(pl.col("who").unique(maintain_order=True).str.join(";"))
            .sort("i")
        )
        pull_requests = self.frame(PULL_REQUESTS, {
            "repo": prs["repo"],
            "number": number,
            "created_at": self.timestamps(pr["created"]),
            "merged_at": self.timestamps(pr["merged"]),
            "author": self.logins[pr["author"]],
            "first_commit_at": self.timestamps(pr["first_commit"]),
            "first_review_at": self.timestamps(pr["first_review"]),
            "approved_at": self.timestamps(pr["approved"]),
            "merge_sha": commits["merge_sha"],
            "reviewers": reviewers["who"],
            "labels": labels,
        })
        review_rows = self.frame(REVIEWS, {
            "repo": self.repos[pr["repo"][reviews["pr"]]],
            "number": number[reviews["pr"]],
            "review_id": [str(1_000_001 + i) for i in range(len(reviews["pr"]))],
            "reviewer": self.logins[reviews["who"]],
            "state": reviews["state"],
            "submitted_at": self.timestamps(reviews["t"]),
        })
        cp = commits["pr"]
        committed = self.timestamps(commits["t"])
        changes = self.frame(CHANGES, {
            "repo": self.repos[pr["repo"][cp]],
            "sha": commits["sha"],
            "committed_at": committed,
            "authored_at": committed,
            "author": self.logins[pr["author"][cp]],
            "pr_number": number[cp],
            "deployment_id": dep_ids[pr["dep"][cp]],
        })
        teams = self.frame(TEAMS, {"team": np.array(self.teams)[self.repo_team], "repo": self.repos})
        return {
            "teams": teams,
            "deployments": deployments,
            "changes": changes,
            "pull_requests": pull_requests,
            "reviews": review_rows,
            "incidents": self.incidents(dep, dep_ids),
            "initiatives": self.initiatives(),
        }

    def initiatives(self) -> pl.DataFrame:
        """One row per initiative; later cohorts' teams are written team@YYYY-MM-DD, the
        canonical way to say they adopted after `started_on`."""
        rows = []
        for name, spec in _resolve(self.effects, self.end).items():
            teams = [
                team if c["started_on"] == spec["started_on"] else f"{team}@{c['started_on'].isoformat()}"
                for c in spec["cohorts"] for team in c["teams"]
            ]
            rows.append({
                "name": name, "started_on": spec["started_on"], "teams": ";".join(teams),
                "kind": spec["kind"], "ramp_weeks": spec["ramp_weeks"], "ended_on": None,
                "description": spec["description"],
                "adoption_environment": spec.get("adoption_environment"),
            })
        return INITIATIVES.frame(rows)
