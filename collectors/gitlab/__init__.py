"""GitLab (gitlab.com and self-managed): projects, deployments, merge requests, incidents."""
