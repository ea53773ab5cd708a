-- Initiatives carry their adoption rule, so that an imported initiative can have an adoption
-- curve without a config file. (Staggered cohorts are written in `teams` as team@YYYY-MM-DD.)
ALTER TABLE initiatives ADD COLUMN adoption_environment VARCHAR;
ALTER TABLE initiatives ADD COLUMN adoption_workflow VARCHAR;
ALTER TABLE initiatives ADD COLUMN adoption_marker_file VARCHAR;
