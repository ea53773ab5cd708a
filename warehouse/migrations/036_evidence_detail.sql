-- Evidence that needs more than what it points at: fix_forward (collectors/szz.py) names the
-- fixing commit, its subject, the file and the lines it blames, as a JSON object in `detail`.
-- kind fix_forward  a change of this deployment modifies lines that a commit first shipped
--                   by an earlier deployment within the failure window last changed
--                   (blame, SZZ); points_at = that commit's sha;
--                   detail = {"fixing", "subject", "path", "lines"}
ALTER TABLE deployment_evidence ADD COLUMN detail VARCHAR;

-- Reverts by subject, partial reverts, unrelated histories, cherry-pick timing and blame are
-- read by the commit walk: every repository's graph is walked again on the next sync.
DELETE FROM sync_state WHERE resource IN ('changes', 'history');
