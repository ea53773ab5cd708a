"""The stream declarations drive the incremental walks: a walk's cursor after a page is the
stream's own replication key, whichever source declares it (collectors/stream.py)."""

import pytest

from collectors.github.streams import Incidents as GitHubIncidents
from collectors.github.streams import Workflows
from collectors.gitlab.sync import Deployments as GitLabDeployments
from collectors.pagerduty.sync import Incidents as PagerDutyIncidents


def test_the_cursor_moves_to_the_newest_replication_key_of_the_page():
    page = [{"updated_at": "2026-03-02T10:00:00Z", "created_at": "2026-04-01T00:00:00Z"},
            {"updated_at": "2026-03-05T08:30:00Z"}, {"updated_at": None}, {"id": 7}]
    assert GitLabDeployments.newest("2026-03-01T00:00:00Z", page) == "2026-03-05T08:30:00Z"
    assert GitHubIncidents.newest("2026-03-01T00:00:00Z", page) == "2026-03-05T08:30:00Z"
    # PagerDuty's incidents follow created_at: the same page moves its cursor elsewhere.
    assert PagerDutyIncidents.newest("2026-03-01T00:00:00Z", page) == "2026-04-01T00:00:00Z"
    # A page older than the cursor (the inclusive edge read again) leaves it where it was.
    assert GitLabDeployments.newest("2026-03-09T00:00:00Z", page) == "2026-03-09T00:00:00Z"
    assert GitLabDeployments.newest("2026-03-09T00:00:00Z", []) == "2026-03-09T00:00:00Z"


def test_a_stream_read_whole_has_no_cursor_to_move():
    assert Workflows.replication_key is None
    with pytest.raises(TypeError, match="no replication key"):
        Workflows.newest("2026-03-01T00:00:00Z", [{"updated_at": "2026-03-02T00:00:00Z"}])
