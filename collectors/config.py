"""Config sections shared by the sources: which events count as deployments, and who owns
which repository. Each source's own section (e.g. `[github]`) lives beside that source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import Field, field_validator

from warehouse.config import MetricsConfig
from warehouse.validation import Strict, check_regex

if TYPE_CHECKING:
    from collectors.github.config import GitHubConfig
    from collectors.gitlab.config import GitLabConfig
    from collectors.pagerduty.config import PagerDutyConfig


class WorkflowRule(Strict):
    """GitHub Actions runs that count as deployments (every given pattern must match)."""

    name: str | None = None  # regex on the workflow name
    path: str | None = None  # regex on the workflow file path
    branch: str | None = None  # regex on head_branch
    event: str | None = None  # regex on the triggering event
    environment: str = "production"

    _regex = field_validator("name", "path", "branch", "event")(check_regex)

    @field_validator("environment")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


# A release version, with or without `v`, after an optional component prefix (`api/`), with an
# optional post-release or hotfix suffix: `2.3.1`, `v2`, `23.1`, `v2.0.1-hotfix`, `1.0.post1`
# count. Anything else after the numbers is a pre-release (PEP 440's a, b, rc, dev; SemVer's
# `-beta.1`) or no release at all (a maintenance line's `2.3.x`, `nightly`) and is left out.
# RE2 syntax (no look-around), as every configured pattern.
DEFAULT_TAG_PATTERN = (
    r"^(?:.+/)?(?:v\d+(?:\.\d+)*|\d+(?:\.\d+)+)(?:[-+._]?(?:post|hotfix|patch|fix|final)[-.]?\d*)?$"
)


class TagRule(Strict):
    """Tags (or releases) that count as deployments."""

    # The default: a release version, pre-releases left out (DEFAULT_TAG_PATTERN above). A bare
    # number needs its `v` (`2` is no version).
    pattern: str = DEFAULT_TAG_PATTERN
    environment: str = "production"
    # The component the tags deploy; by default a tag's prefix (`api/v1` -> `api`), none
    # without one. Each service is its own sequence for rollbacks and hotfixes.
    service: str | None = None
    releases: bool = False  # read GitHub releases instead of tags
    prereleases: bool = False  # with releases: count pre-releases too (drafts never count)

    _regex = field_validator("pattern")(check_regex)


class DeploymentRules(Strict):
    use_deployments_api: bool = True
    # Deployments API: only environments whose name matches this are collected (None: all).
    environments: str | None = None
    workflows: list[WorkflowRule] = Field(default_factory=list)
    tags: list[TagRule] = Field(default_factory=list)
    # A deployment is a hotfix / rollback when its own ref, branch, title, description or tag
    # matches these (case-insensitive); a shipped pull request is a hotfix when a label or its
    # branch matches hotfix_pattern. The subjects of shipped commits are never read for this.
    hotfix_pattern: str = r"\bhot-?fix"
    rollback_pattern: str = r"\b(rollback|roll back|roll-back)\b|^revert\b"

    _regex = field_validator("environments", "hotfix_pattern", "rollback_pattern")(check_regex)


class ChangeRules(Strict):
    """`[rules]`: what makes a deployment a hotfix or a rollback, read alike by every source
    (GitHub, GitLab, local git, webhooks). Which environments are production is
    `[metrics] production_environment`, equally source-neutral."""

    hotfix_pattern: str = DeploymentRules.model_fields["hotfix_pattern"].default
    rollback_pattern: str = DeploymentRules.model_fields["rollback_pattern"].default

    _regex = field_validator("hotfix_pattern", "rollback_pattern")(check_regex)

    def deployment_rules(self) -> DeploymentRules:
        """These patterns as the deployment rules of a source without rules of its own."""
        return DeploymentRules(hotfix_pattern=self.hotfix_pattern, rollback_pattern=self.rollback_pattern)


class RepoConfig(Strict):
    team: str | None = None
    clone_url: str | None = None  # where to clone from (mirror, GHES, a local path); default from the API


class SourcesSettings(Protocol):
    """The config sections the collectors read (the shell's composed config has them)."""

    metrics: MetricsConfig
    rules: ChangeRules
    github: GitHubConfig | None
    gitlab: GitLabConfig | None
    pagerduty: PagerDutyConfig | None
    repos: dict[str, RepoConfig]
    teams: dict[str, list[str]]  # team -> repo globs
    source_path: Path | None
