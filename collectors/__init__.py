"""Input: every source turns an external system into canonical records (the schema in warehouse/schema.py)."""
