-- Late events (`late_events`) counted per minute and branch, added to what gold already holds for
-- those minutes (`late_known`).
SELECT minute, branch_id, sum(events)::BIGINT AS events, sum(amount)::DECIMAL(18, 2) AS amount
FROM (
    SELECT minute, branch_id, events, amount FROM late_known
    UNION ALL
    SELECT make_timestamptz((epoch_us(event_time) // 60000000) * 60000000), branch_id, 1, amount FROM late_events
)
GROUP BY ALL
ORDER BY minute, branch_id
