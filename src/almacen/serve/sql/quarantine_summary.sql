-- Quarantined rows by table and rule: how many, an example reason, and when the last one came.
SELECT table_name, rule, count(*) AS rows, any_value(reason) AS example_reason, max(quarantined_at) AS last_at
FROM serving.quarantine
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
GROUP BY table_name, rule
ORDER BY rows DESC, table_name, rule
