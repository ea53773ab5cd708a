"""PagerDuty: incidents by service."""
