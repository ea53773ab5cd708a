-- A source can say a deployment's environment is production whatever its name (GitHub's
-- `production_environment`). The production rule, one definition used by every query:
-- flagged by the source, or the environment name matches the configured pattern
-- (case-insensitive).
ALTER TABLE deployments ADD COLUMN is_production BOOLEAN;
CREATE MACRO is_production(environment, flagged, pattern) AS
    coalesce(flagged, false) OR regexp_matches(environment, pattern, 'i');
