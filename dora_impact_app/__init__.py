"""The application layer: what both front ends (the `dora-impact` CLI in dora_impact/, the
Streamlit dashboard in dashboards/) need, below them and above the rooms they call.

- `config`: the one config model and its single read (legacy keys mapped once);
- `after_load`: the one step every writer runs after loading (attribution, team ownership,
  refresh of the precomputed tables);
- `sources`: the registered sources and the sync over them;
- `workflows`: import, compare and report, as both front ends run them.

Nothing here prints: results come back as values, and each front end shows them its way.
"""
