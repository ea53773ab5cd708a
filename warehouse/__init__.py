"""Storage and every computation over stored data: schema, loads, metrics, impact."""

from warehouse.db import Warehouse

__all__ = ["Warehouse"]
