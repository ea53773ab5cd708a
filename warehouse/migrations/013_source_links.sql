-- What produced a deployment and where each row lives on the web, so that adoption can be
-- measured by workflow and the dashboard can link rows to GitHub, GitLab or PagerDuty.
-- workflow / workflow_path: the CI workflow (GitHub Actions workflow name and file path,
-- GitLab job name and .gitlab-ci.yml) that ran the deployment; NULL when no workflow did.
ALTER TABLE deployments ADD COLUMN workflow VARCHAR;
ALTER TABLE deployments ADD COLUMN workflow_path VARCHAR;
ALTER TABLE deployments ADD COLUMN url VARCHAR;
ALTER TABLE pull_requests ADD COLUMN url VARCHAR;
ALTER TABLE changes ADD COLUMN url VARCHAR;
ALTER TABLE incidents ADD COLUMN url VARCHAR;

-- adoption_marker_file was accepted but never measured: a key that does nothing is removed.
ALTER TABLE initiatives DROP COLUMN adoption_marker_file;
