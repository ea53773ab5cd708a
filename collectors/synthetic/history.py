"""The row generation: two years of deployments, pull requests, commits, reviews and
incidents for the org of org.py, with the effects of effects.py injected into the process.

Every random number comes from draws.py, keyed by the row it is for (so the same seed gives
the same rows relative to the end week, whatever the date), and everything is vectorised (no
per-row Python loops).

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
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl

from collectors.synthetic.draws import Draws, child
from collectors.synthetic.effects import WEEK_H, Schedule, resolve, window
from collectors.synthetic.org import OWNER, ROSTER, TEAM_CADENCE, TEAM_REPOS
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

_MIN_GAP_H = 0.5  # two production deployments of one repository are at least 30 min apart
_PRE_HISTORY_H = 72.0  # the first deployment of a repo ships what was merged in the 3 days before
_ENVIRONMENTS = ("production", "staging", "preview")


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """True on the first row of each run of equal keys (rows sorted by key)."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, bool)


def _rank_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of the given sizes, concatenated."""
    total = int(counts.sum())
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - offsets


class History:
    """One demo org's history. Rows are keyed (draws.py) by their place relative to the end:
    a production deployment by (repository, day before the end, rank that day), a pull request
    by (its deployment, rank in the batch), a commit by (its pull request, rank)."""

    def __init__(self, seed: int, end: date | None, weeks: int, effects: dict[str, dict[str, Any]]):
        self.draw = Draws(seed)
        self.start, self.end = window(end, weeks)
        self.weeks = weeks
        self.horizon = weeks * WEEK_H
        self.effects = effects
        self.teams = list(TEAM_REPOS)
        self.repos = np.array([f"{OWNER}/{r}" for t in self.teams for r in TEAM_REPOS[t]])
        self.repo_team = np.array([i for i, t in enumerate(self.teams) for _ in TEAM_REPOS[t]])
        self.schedule = Schedule(effects, self.teams, weeks)
        logins = [f"{n}.{t}" for t in self.teams for n in ROSTER[t]]
        self.logins = np.array(logins)
        sizes = np.array([len(ROSTER[t]) for t in self.teams])
        self.team_size = sizes
        self.team_first = np.cumsum(sizes) - sizes
        self.start_us = int(datetime(self.start.year, self.start.month, self.start.day,
                                     tzinfo=UTC).timestamp()) * 1_000_000
        # Traits of each repo and team, keyed by the repo or team: the same seed gives the same
        # org whatever the effects and the dates are.
        draw, n_teams = self.draw, len(self.teams)
        repo_key, team_key = draw.keys(np.arange(len(self.repos))), draw.keys(np.arange(n_teams))
        team_rate = np.array([TEAM_CADENCE[t] for t in self.teams])
        self.repo_rate = draw.lognormal("repo rate", repo_key, 1, 0.5) * team_rate[self.repo_team]
        self.repo_staging = draw.random("repo staging", repo_key) < 0.7
        self.team_bad_rate = draw.uniform("team bad", team_key, 0.06, 0.11)  # needing intervention
        self.team_fail_rate = draw.uniform("team failed runs", team_key, 0.03, 0.06)  # runs that fail
        self.team_pace = draw.lognormal("team pace", team_key, 1, 0.25)  # review waits
        # Weeks the whole org, or one team, ships more or less: keyed by weeks before the end.
        weeks_before_end = weeks - np.arange(weeks)
        self.org_noise = draw.lognormal("org week", draw.keys(weeks_before_end), 1, 0.06)
        self.team_noise = draw.lognormal(
            "team week", draw.keys(np.arange(n_teams)[:, None], weeks_before_end[None, :]), 1, 0.10
        )

    # -- small helpers ------------------------------------------------------------------------
    def member(self, team: np.ndarray, purpose: str | None = None, keys: np.ndarray | None = None,
               offset: np.ndarray | None = None) -> np.ndarray:
        """A random member of each team (index into self.logins), or author + offset."""
        size = self.team_size[team]
        pick = self.draw.integers(purpose, keys, 0, size) if offset is None else offset % size
        return self.team_first[team] + pick

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
        """Relative activity per day: weekday rhythm x a mild org-wide growth (the history
        starts on a Monday, so both only depend on the day's place relative to the end)."""
        day = np.arange(self.weeks * 7)
        rhythm = np.array([1.0, 1.15, 1.15, 1.05, 0.7, 0.06, 0.04])[day % 7]
        growth = np.exp(0.09 * day / 365.0)  # +9 % a year, every team
        return rhythm * growth

    def holidays(self) -> np.ndarray:
        """The calendar's part: x0.72 in August, x0.45 around the new year, x0.12 from 24
        December to 1 January. Kept out of the normalisation, so that a history ending on
        another date differs only on and around these days."""
        days = np.datetime64(self.start) + np.arange(self.weeks * 7)
        month = days.astype("M8[M]").astype(np.int64) % 12 + 1
        dom = (days - days.astype("M8[M]")).astype(np.int64) + 1
        holiday = np.ones(len(days))
        holiday[month == 8] = 0.72  # summer lull
        holiday[((month == 12) & (dom >= 20)) | ((month == 1) & (dom <= 6))] = 0.45
        holiday[((month == 12) & (dom >= 24)) | ((month == 1) & (dom <= 1))] = 0.12
        return holiday

    # -- 2. successful production deployments -----------------------------------------------------
    def production(self) -> dict[str, np.ndarray]:
        draw, n_repos, n_days = self.draw, len(self.repos), self.weeks * 7
        structural = self.repo_rate[:, None] * self.day_factors()[None, :]
        # ~600 production deployments per repository in two years once the holidays (about
        # -6 %) are taken out, scaled with the length of the history; per repository, so that
        # a team added to the org adds its own deployments rather than thinning everyone's.
        structural *= 618 * n_repos * self.weeks / 104 / structural.sum()
        structural *= self.holidays()[None, :]
        week = np.arange(n_days) // 7
        org_noise = self.org_noise[week]
        team_noise = self.team_noise[:, week][self.repo_team]
        midday = (np.arange(n_days) + 0.5) * 24
        effect = np.stack([
            self.schedule.multiplier("deployment_rate", np.full(n_days, self.repo_team[r]), midday)
            for r in range(n_repos)
        ])
        # A cell is (repository, day before the end); a deployment is the k-th of its cell.
        cells = draw.keys(np.arange(n_repos)[:, None], n_days - np.arange(n_days)[None, :])
        counts = draw.poisson("deployments", cells, structural * org_noise[None, :] * team_noise * effect)
        cell = np.repeat(np.arange(n_repos * n_days), counts.ravel())
        repo, day = cell // n_days, cell % n_days
        key = child(cells.ravel()[cell], _rank_in_group(counts.ravel()))
        t = day * 24 + np.clip(draw.normal("time of day", key, 13.5, 2.8), 4.0, 23.9)
        order = np.lexsort((t, repo))
        repo, t, key = repo[order], t[order], key[order]
        # Enforce the minimum gap within each repo: t'_k = max(t_k, t'_{k-1} + gap), as a
        # running maximum of t_k - k*gap (repos offset so one never lifts the next).
        k = _rank_in_group(np.bincount(repo, minlength=n_repos))
        lift = repo * (self.horizon * 10)
        t = np.maximum.accumulate(t - k * _MIN_GAP_H + lift) - lift + k * _MIN_GAP_H
        keep = t < self.horizon
        return {"repo": repo[keep], "t": t[keep], "key": key[keep]}

    # -- 3. bad deployments, incidents, hotfixes and rollbacks ---------------------------------------
    def failures(self, dep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        draw, repo, t0, key = self.draw, dep["repo"], dep["t"], dep["key"]
        n = len(t0)
        team = self.repo_team[repo]
        has_next = np.r_[repo[1:] == repo[:-1], False]
        cfr = self.schedule.multiplier("failure_rate", team, t0)
        rec = self.schedule.multiplier("recovery_scale", team, t0)
        bad = draw.random("bad", key) < self.team_bad_rate[team] * cfr
        incident = bad & (draw.random("incident", key) < 0.6)
        u = draw.random("follow", key)
        # What the next deployment of the repo becomes: 1 hotfix, 2 rollback, 0 nothing.
        follow = np.where(incident, np.where(u < 0.55, 1, np.where(u < 0.65, 2, 0)),
                          np.where(u < 0.75, 1, 2))
        follow = np.where(bad & has_next, follow, 0)
        detect = draw.lognormal("detect", key, 0.35, 0.8) * rec
        resolve = draw.lognormal("resolve", key, 3.0, 1.3) * rec
        fix_wait = np.where(
            follow == 2,
            draw.lognormal("rollback wait", key, 0.6, 0.8),
            np.where(incident, resolve * draw.uniform("fix share", key, 0.5, 0.95),
                     draw.lognormal("fix wait", key, 2.5, 1.0)),
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
        draw, t, repo, key = self.draw, dep["t"], dep["repo"], dep["key"]
        duration = np.clip(draw.lognormal("duration", key, 0.1, 0.5), 1 / 60, 0.25)
        started = t - duration
        first = _group_starts(repo)
        prev_finish = np.where(first, started - _PRE_HISTORY_H, np.r_[0.0, t[:-1]])
        gap = started - prev_finish
        planned = ~(dep["is_hotfix"] | dep["is_rollback"])
        fail_p = self.team_fail_rate[dep["team"]] * dep["cfr"]
        failed_run = planned & (draw.random("failed run", key) < fail_p)
        retry = np.minimum((1 / 6 + draw.lognormal("retry", key, 0.6, 0.9)) * dep["rec"], 0.5 * gap)
        fail_finish = started - retry
        fail_started = fail_finish - np.minimum(duration, 0.25 * gap)
        # Everything a deployment ships was merged before its first attempt started.
        merge_end = np.where(failed_run, fail_started, started)
        pipeline = np.minimum(draw.lognormal("pipeline", key, 0.2, 0.6), 0.4 * (merge_end - prev_finish))
        return {**dep, "started": started, "prev_finish": prev_finish, "failed_run": failed_run,
                "fail_finish": fail_finish, "fail_started": fail_started,
                "merge_end": merge_end, "pipeline": pipeline}

    # -- 5. pull requests ---------------------------------------------------------------------
    def pull_requests(self, dep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        draw, n_dep = self.draw, len(dep["t"])
        batch = 1 + draw.poisson("batch", dep["key"], 0.85)
        n_pr = np.where(dep["is_rollback"], 0, np.where(dep["is_hotfix"], 1, batch))
        d = np.repeat(np.arange(n_dep), n_pr)
        n = len(d)
        k = _rank_in_group(n_pr)
        key = child(dep["key"][d], k)
        team, t = dep["team"][d], dep["t"][d]
        hotfix = dep["is_hotfix"][d]
        lo, hi = dep["prev_finish"][d], dep["merge_end"][d] - dep["pipeline"][d]
        # The first pull request of a batch triggers the deployment; the others were merged
        # while the previous deployment was live.
        merged = np.where(k == 0, hi, lo + draw.uniform("merged", key, 0.02, 0.98) * (hi - lo))
        # Review waits: a per-team pace, an org that slowly gets quicker (-6 % a year), and the
        # initiatives' process changes.
        wait = np.exp(-0.06 * t / (365 * 24)) * self.team_pace[team]
        handoff = np.zeros(n, bool)
        for name, spec in self.effects.items():
            process = spec.get("process", {})
            adopted = self.schedule.adoption(name, team, t)
            if "handoff_team" in process:
                # The new approval step exists or not: its whole wait applies per PR.
                step = (draw.random(f"{name} step", key) < adopted) & ~hotfix
                handoff |= step
                wait *= np.where(step, process["review_wait"], 1.0)
            else:
                wait *= process.get("review_wait", 1.0) ** adopted
        # A hotfix is quick at every stage (its own medians and spreads, the same draw).
        pickup = draw.lognormal("pickup", key, np.where(hotfix, 0.2, 2.5 * wait), np.where(hotfix, 0.6, 1.2))
        review = draw.lognormal("review", key, np.where(hotfix, 0.3, 4.0 * wait), np.where(hotfix, 0.6, 1.1))
        coding = draw.lognormal("coding", key, np.where(hotfix, 1.0, 14.0), np.where(hotfix, 0.7, 1.3))
        merge_delay = np.minimum(draw.lognormal("merge delay", key, 0.2, 0.8), 0.5 * review)
        approved = merged - merge_delay
        first_review = approved - review
        created = first_review - pickup
        preview_env = np.zeros(n, bool)
        for name, spec in self.effects.items():
            if spec.get("process", {}).get("preview_deployments"):
                tried = draw.random(f"{name} preview", key) < self.schedule.adoption(name, team, t)
                preview_env |= tried & ~hotfix
        author = self.member(team, "author", key)
        return {
            "dep": d, "key": key, "team": team, "t": t, "hotfix": hotfix, "handoff": handoff,
            "preview_env": preview_env, "author": author, "repo": dep["repo"][d],
            "merged": merged, "approved": approved, "first_review": first_review,
            "created": created, "first_commit": created - coding,
        }

    # -- 6. commits ----------------------------------------------------------------------------------
    def commits(self, pr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        draw, n_pr, pr_key = self.draw, len(pr["dep"]), pr["key"]
        n_c = np.where(pr["hotfix"], 1, draw.geometric("commits", pr_key, 0.45))
        p = np.repeat(np.arange(n_pr), n_c)
        n = len(p)
        j = _rank_in_group(n_c)
        key = child(pr_key[p], j)
        first, created = pr["first_commit"][p], pr["created"][p]
        t = np.where(j == 0, first, first + draw.random("commit time", key) * (created - first))
        # A quarter of multi-commit PRs get a fix-up commit during review.
        fixup = (j == n_c[p] - 1) & (j > 0) & (draw.random("fixup", pr_key) < 0.25)[p]
        t = np.where(fixup, pr["first_review"][p] + draw.uniform("fixup time", key, 0.1, 0.9)
                     * (pr["approved"][p] - pr["first_review"][p]), t)
        order = np.lexsort((t, p))
        p, t, key = p[order], t[order], key[order]
        sha = draw.shas("sha", key)
        last = np.r_[p[1:] != p[:-1], True] if n else np.zeros(0, bool)
        merge_sha = np.empty(n_pr, dtype=object)
        merge_sha[p[last]] = sha[last]
        return {"pr": p, "t": t, "sha": sha, "merge_sha": merge_sha}

    # -- 7. reviews ------------------------------------------------------------------------------------
    def reviews(self, pr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Review rows: a teammate reviews first; if that was no approval, they approve later
        (or a second teammate does); sometimes a second teammate or another team comments;
        with the deploy platform a platform-team member gives the last approval."""
        draw, n, key = self.draw, len(pr["dep"]), pr["key"]
        team, author = pr["team"], pr["author"]
        size = self.team_size[team]
        off1 = draw.integers("mate 1", key, 1, size)
        off2 = 1 + (off1 - 1 + draw.integers("mate 2", key, 1, size - 1)) % (size - 1)  # != off1, != 0
        mate1 = self.member(team, offset=author - self.team_first[team] + off1)
        mate2 = self.member(team, offset=author - self.team_first[team] + off2)
        fr, ap = pr["first_review"], pr["approved"]
        span = ap - fr
        handoff = pr["handoff"]
        team_approval = np.where(handoff, fr + draw.uniform("team approval", key, 0.3, 0.8) * span, ap)
        u = draw.random("first state", key)
        first_state = np.where(u < 0.25, "CHANGES_REQUESTED", np.where(u < 0.7, "COMMENTED", "APPROVED"))
        mate2_approves = first_state == "APPROVED"  # a second approval is the one merge waits for
        mate2_comments = ~mate2_approves & (draw.random("mate 2 comments", key) < 0.3)
        # Another product team (never the author's, never the platform team) now and then.
        platform = self.teams.index("platform")
        others = np.array([i for i in range(len(self.teams)) if i != platform])
        own = np.searchsorted(others, team)
        other_team = others[(own + draw.integers("other team", key, 1, len(others))) % len(others)]
        cross = (draw.random("cross", key) < 0.07) & ~pr["hotfix"]
        handoff_team = next(
            (self.teams.index(s["process"]["handoff_team"]) for s in self.effects.values()
             if "handoff_team" in s.get("process", {})), platform,
        )
        idx = np.arange(n)
        parts = [
            (idx, mate1, first_state, fr),
            (idx[first_state != "APPROVED"], mate1, "APPROVED", team_approval),
            (idx[mate2_approves], mate2, "APPROVED", team_approval),
            (idx[mate2_comments], mate2, "COMMENTED", fr + draw.random("mate 2 time", key) * span),
            (idx[cross], self.member(other_team, "outsider", key), "COMMENTED",
             fr + draw.random("outsider time", key) * span),
            (idx[handoff], self.member(np.full(n, handoff_team), "approver", key), "APPROVED", ap),
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
        draw = self.draw
        caused = np.flatnonzero(dep["incident"])
        opened = dep["t"][caused] + dep["detect"][caused]
        resolved = opened + dep["resolve"][caused]
        repo = dep["repo"][caused]
        cause = dep_ids[caused].astype(object)
        # Incidents no deployment caused (capacity, vendors, ...): ~15 % of all, per repository
        # in proportion to the incidents its deployments caused.
        n_repos = len(self.repos)
        n_bg = draw.poisson("background", draw.keys(np.arange(n_repos)),
                            0.18 * np.bincount(repo, minlength=n_repos))
        bg_repo = np.repeat(np.arange(n_repos), n_bg)
        bg_key = child(draw.keys(bg_repo), _rank_in_group(n_bg))
        bg_open = draw.uniform("background opened", bg_key, 0, self.horizon)
        opened = np.r_[opened, bg_open]
        resolved = np.r_[resolved, bg_open + draw.lognormal("background resolved", bg_key, 3.0, 1.3)]
        resolved = np.where(resolved < self.horizon, resolved, np.nan)  # still open at the end
        repo = np.r_[repo, bg_repo]
        cause = np.r_[cause, np.full(len(bg_repo), None, dtype=object)]
        severity = draw.choice("severity", np.r_[dep["key"][caused], bg_key],
                               ["SEV1", "SEV2", "SEV3", "SEV4"], [0.05, 0.2, 0.5, 0.25])
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

    # -- 9. the CI workflow that ran each deployment -----------------------------------------
    def workflows(self, dep: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str], list[str]]:
        """(index per production deployment into names/paths, names, paths): each team's own
        "deploy" workflow, unless an initiative's workflow (spec["workflow"]) took the
        deployment over, with probability share x adoption. Initiatives claim deployments in
        the order they started, so a portal template's deployment stays the portal's. The
        last name is the preview environments' workflow."""
        names, paths = ["deploy"], [".github/workflows/deploy.yml"]
        index = np.zeros(len(dep["t"]), np.int64)
        by_start = sorted(self.effects.items(),
                          key=lambda kv: -max(c["weeks_before_end"] for c in kv[1]["cohorts"]))
        for name, spec in by_start:
            flow = spec.get("workflow")
            if not flow:
                continue
            share = flow["share"] * self.schedule.adoption(name, dep["team"], dep["t"])
            taken = (index == 0) & (self.draw.random(f"{name} workflow", dep["key"]) < share)
            index[taken] = len(names)
            names.append(flow["name"])
            paths.append(flow["path"])
        return index, [*names, "preview"], [*paths, ".github/workflows/preview.yml"]

    # -- assembly ------------------------------------------------------------------------------------
    def frames(self) -> dict[str, pl.DataFrame]:
        draw = self.draw
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
        staged &= draw.random("staged", dep["key"]) < 0.8
        stage_finish = dep["merge_end"] - dep["pipeline"] * draw.uniform("stage finish", dep["key"], 0.1, 0.5)
        fr = dep["failed_run"]
        pv = pr["preview_env"]
        workflow, names, paths = self.workflows(dep)
        preview_finish = pr["created"] + draw.lognormal("preview finish", pr["key"], 0.25, 0.5)
        parts = {
            "repo": [dep["repo"], dep["repo"][fr], dep["repo"][staged], pr["repo"][pv]],
            "environment": [np.zeros(n_dep, int), np.zeros(fr.sum(), int), np.ones(staged.sum(), int),
                            np.full(pv.sum(), 2)],
            "failed": [np.zeros(n_dep, bool), np.ones(fr.sum(), bool),
                       draw.random("stage failed", dep["key"][staged]) < 0.04, np.zeros(pv.sum(), bool)],
            "finished": [dep["t"], dep["fail_finish"][fr], stage_finish[staged], preview_finish[pv]],
            "started": [dep["started"], dep["fail_started"][fr], stage_finish[staged] - 0.05,
                        preview_finish[pv] - 0.08],
            "sha": [head, head[fr], head[staged], commits["merge_sha"][pv]],
            "workflow": [workflow, workflow[fr], workflow[staged], np.full(pv.sum(), len(names) - 1)],
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
            "workflow": np.array(names)[rows["workflow"]],
            "workflow_path": np.array(paths)[rows["workflow"]],
        }).sort("finished_at", "deployment_id")

        # Pull request numbers count up per repository in order of creation.
        labels = draw.choice("labels", pr["key"], ["feature", "bug", "chore", "dependencies", "refactor"],
                             [0.45, 0.25, 0.12, 0.1, 0.08])
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
        for name, spec in resolve(self.effects, self.end).items():
            teams = [
                team if c["started_on"] == spec["started_on"] else f"{team}@{c['started_on'].isoformat()}"
                for c in spec["cohorts"] for team in c["teams"]
            ]
            rows.append({
                "name": name, "started_on": spec["started_on"], "teams": ";".join(teams),
                "kind": spec["kind"], "ramp_weeks": spec["ramp_weeks"], "ended_on": None,
                "description": spec["description"],
                "adoption_environment": spec.get("adoption_environment"),
                "adoption_workflow": spec.get("adoption_workflow"),
                "primary_metric": spec.get("primary_metric"),
            })
        return INITIATIVES.frame(rows)
