-- gold.returns_minute for the minutes a batch touched, counted again from bronze (`returned`: the
-- bronze events of those minutes, deduplicated by the stream's rules).
SELECT date_trunc('minute', event_time) AS minute, branch_id, reason,
       count(*)::BIGINT AS returns, sum(amount)::DECIMAL(18, 2) AS amount
FROM returned
GROUP BY ALL
