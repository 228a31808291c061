-- Per-minute partial rollup of a batch of accepted events (`new_events`) added to the open minutes
-- (`open_minutes`). The minute is computed on epoch microseconds: date_trunc on a zoned timestamp
-- is several times slower (FINDINGS.md).
SELECT minute, branch_id, channel, payment_type, status,
       sum(events)::BIGINT AS events, sum(units)::DECIMAL(18, 3) AS units, sum(amount)::DECIMAL(18, 2) AS amount
FROM (
    SELECT minute, branch_id, channel, payment_type, status, events, units, amount FROM open_minutes
    UNION ALL
    SELECT make_timestamptz((epoch_us(event_time) // 60000000) * 60000000) AS minute,
           branch_id, channel, payment_type, status, 1 AS events, quantity AS units, amount
    FROM new_events
)
GROUP BY ALL
ORDER BY minute, branch_id, channel, payment_type, status
