"""dora-impact: the thin shell (CLI, config, reports, notifications) over collectors/ and warehouse/."""

__version__ = "0.1.0"
