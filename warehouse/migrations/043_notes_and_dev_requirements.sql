-- Evidence read by the commit walk of `sync --git` (collectors/szz.py), changed:
-- kind fix_forward  also for a change of a patch release that a fix entry of the release's own
--                   notes describes ("Fix `striptags` not collapsing spaces", an entry of a
--                   "Fixed" section naming its pull request); detail "note" = that entry
-- and, for fix_forward and the revert kinds, a development requirements file (a
-- `requirements*.txt` of a package that declares its dependencies in pyproject.toml, setup.cfg
-- or setup.py without reading it) is no longer what a deployment runs.
-- Every repository's graph is walked again on the next sync to gather them.
DELETE FROM sync_state WHERE resource IN ('changes', 'history');
