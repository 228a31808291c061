-- The templates of `state_events` (bronze rows of message events) with their final rank, as the
-- ingestor holds them: one row per message, the first send of an id kept.
WITH sends AS (
    SELECT message_id, event_time AS sent_at,
           make_timestamptz((epoch_us(event_time) // 60000000) * 60000000) AS minute,
           client_id, category, country,
           row_number() OVER (PARTITION BY message_id ORDER BY event_time, event_id) AS n
    FROM state_events WHERE type = 'send'
), ranks AS (
    SELECT message_id, max(r.rank) AS rank
    FROM state_events e JOIN status_ranks r USING (status)
    WHERE e.type = 'status'
    GROUP BY message_id
)
SELECT message_id, sent_at, minute, client_id, category, country, coalesce(ranks.rank, 0)::TINYINT AS rank
FROM sends LEFT JOIN ranks USING (message_id)
WHERE n = 1
