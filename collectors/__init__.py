"""Input: every source turns an external system into canonical records (see records.py)."""
