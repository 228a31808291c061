-- Late events (`late_events`) counted per minute at the full grain of gold.sales_minute (minute, branch,
-- channel, payment type, status), added to what gold.sales_minute_late already holds for those minutes
-- (`late_known`): on-time plus late equals bronze at that grain.
SELECT minute, branch_id, channel, payment_type, status,
       sum(events)::BIGINT AS events, sum(units)::DECIMAL(18, 3) AS units, sum(amount)::DECIMAL(18, 2) AS amount
FROM (
    SELECT minute, branch_id, channel, payment_type, status, events, units, amount FROM late_known
    UNION ALL
    SELECT make_timestamptz((epoch_us(event_time) // 60000000) * 60000000) AS minute,
           branch_id, channel, payment_type, status, 1 AS events, quantity AS units, amount
    FROM late_events
)
GROUP BY ALL
ORDER BY minute, branch_id, channel, payment_type, status
