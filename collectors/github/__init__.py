"""GitHub source: one HTTP client, declarative streams, and the sync that loads them."""
