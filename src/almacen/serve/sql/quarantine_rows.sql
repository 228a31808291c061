-- The latest quarantined rows with their rule and reason (the row itself stays in quarantine.<table>).
SELECT quarantined_at, table_name, branch_id, batch_id, rule, reason
FROM serving.quarantine
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
ORDER BY quarantined_at DESC, table_name, batch_id
LIMIT 200
