-- Evidence read by the commit walk of `sync --git` (collectors/szz.py):
-- kind release_note  an entry the deployment's release notes gained since the deployment
--                    before it names an earlier deployment of its sequence within the failure
--                    window with words of a defect; points_at = that deployment;
--                    detail = {"note"}
-- and, on fix_forward rows, detail "closes" (the fixing message closes an issue with a fix
-- keyword) and "around" (an add-only fix, blamed on the lines around its insertions).
-- Every repository's graph is walked again on the next sync to gather them.
DELETE FROM sync_state WHERE resource IN ('changes', 'history');
