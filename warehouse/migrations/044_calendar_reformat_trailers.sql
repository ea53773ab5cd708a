-- Evidence read by the commit walk of `sync --git` (collectors/szz.py, collectors/git.py), changed:
-- kind fix_forward  also for a change with a `Fixes: <sha>` trailer naming a commit a release
--                   within the window shipped first (detail "fixes_commit" = the trailer);
--                   blame goes on past a commit that only reformatted a line (quotes, case,
--                   spacing); a top-level `scripts/` or `tools/` folder of a package whose
--                   metadata does not name it, and the development tools' configuration
--                   (tox.ini, noxfile.py, .coveragerc, ...), are no longer what a deployment runs.
-- Every repository's graph is walked again on the next sync to gather them.
DELETE FROM sync_state WHERE resource IN ('changes', 'history');
