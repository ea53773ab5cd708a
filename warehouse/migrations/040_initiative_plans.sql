-- The analysis plan an initiative is judged by (docs/impact-method.md): its primary metric,
-- the weeks compared and an optional equivalence margin, imported with it.
ALTER TABLE initiatives ADD COLUMN primary_metric VARCHAR;
ALTER TABLE initiatives ADD COLUMN window_weeks INTEGER;
ALTER TABLE initiatives ADD COLUMN equivalence_margin DOUBLE;

-- Every plan each initiative has had, with when the tool first saw it (warehouse/impact/plans.py).
-- The earliest is the registered one; an analysis that departs from it is exploratory.
-- Key: (name, plan), plan being the canonical text of the plan.
CREATE TABLE initiative_plans (
    name VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL
);
