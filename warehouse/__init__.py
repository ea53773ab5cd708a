"""Storage and every computation over stored data: schema, loads, metrics, impact."""

from warehouse import lake as _lake  # noqa: F401 - registers the `ducklake:` locations
from warehouse.db import Warehouse

__all__ = ["Warehouse"]
