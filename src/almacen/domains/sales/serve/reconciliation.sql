-- Reconciliation of gold against the branch sources, per branch: hours checked, hours that do not
-- match, the first of them, and when the last check ran.
SELECT branch_id, count(*) AS hours_checked, count(*) FILTER (WHERE NOT ok) AS hours_failing,
       min(hour) FILTER (WHERE NOT ok) AS first_failing_hour, max(checked_at) AS last_checked_at,
       sum(source_revenue)::DECIMAL(18,2) AS source_revenue, sum(gold_revenue)::DECIMAL(18,2) AS gold_revenue
FROM _system.reconciliation
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
GROUP BY branch_id
ORDER BY branch_id
