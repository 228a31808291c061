-- gold.usage_minute rows of the `touched_minutes`, recomputed whole from the messages sent in them
-- (`usage_messages`: minute, client_id, category, country, rank; see STATUS_RANK): a minute's counts
-- are always a fresh count of its messages' final statuses, never increments.
SELECT minute, CAST(minute AS DATE) AS day, client_id, category, country,
       count(*)::BIGINT AS sent,
       count(*) FILTER (WHERE rank >= 2)::BIGINT AS delivered,
       count(*) FILTER (WHERE rank = 3)::BIGINT AS read,
       count(*) FILTER (WHERE rank = 1)::BIGINT AS failed,
       count(*) FILTER (WHERE rank >= 2)::BIGINT AS billable
FROM usage_messages
WHERE minute IN (SELECT minute FROM touched_minutes)
GROUP BY ALL
ORDER BY minute, client_id, category, country
