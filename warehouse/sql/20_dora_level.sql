-- DORA 2024 performance clusters (Accelerate State of DevOps Report 2024, "Software delivery
-- performance levels"). A period belongs to the highest cluster whose every bound it meets:
--             deploys/week      lead time     change fail rate   recovery time
--   elite     > 7 (several a day) < 24 h      <= 5%              < 1 h
--   high      >= 1 (weekly+)    <= 168 h      <= 20%             < 24 h
--   medium    >= 12/52 (monthly+) <= 720 h    <= 10%             < 24 h
--   low       anything else (the report's low cluster: monthly to 6-monthly, 1-6 months, 40%, 1 week-1 month)
-- A metric with no data (no changes shipped, no failures) does not hold a period back;
-- a period with no production deployment has no level.
CREATE OR REPLACE TEMP MACRO dora_level(per_week, lead_hours, fail_rate, recovery_hours, production) AS
CASE
    WHEN coalesce(production, 0) = 0 THEN NULL
    WHEN per_week > 7 AND coalesce(lead_hours < 24, true) AND coalesce(fail_rate <= 0.05, true)
        AND coalesce(recovery_hours < 1, true) THEN 'elite'
    WHEN per_week >= 1 AND coalesce(lead_hours <= 168, true) AND coalesce(fail_rate <= 0.20, true)
        AND coalesce(recovery_hours < 24, true) THEN 'high'
    WHEN per_week >= 12.0 / 52 AND coalesce(lead_hours <= 720, true) AND coalesce(fail_rate <= 0.10, true)
        AND coalesce(recovery_hours < 24, true) THEN 'medium'
    ELSE 'low'
END;
