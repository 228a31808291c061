-- access: branch
-- keys: day, branch_id, reason
-- Returns per day, branch and reason, from the returns stream's bronze table.
SELECT event_date AS day, branch_id, reason, count(*)::BIGINT AS returns, sum(amount)::DECIMAL(18, 2) AS amount
FROM bronze.return_events
GROUP BY ALL
