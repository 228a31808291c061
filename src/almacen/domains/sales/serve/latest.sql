-- The last business date with sales over `$branches` (NULL: every branch): where a request that names no
-- date range ends, so a branch manager's default range ends on their branches' last day.
SELECT max(date) AS d
FROM gold.sales_tickets_daily
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
