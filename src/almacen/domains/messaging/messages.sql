-- silver.messages: one row per message of bronze.message_events (sends, customer messages, bot
-- replies), the first event of an id kept; a template's status is the highest rank of its status
-- events (`status_ranks`), whatever order they arrived in.
WITH firsts AS (
    SELECT message_id, client_id, recipient_key, country, category,
           CASE type WHEN 'send' THEN 'template' ELSE type END AS kind,
           event_time AS sent_at,
           row_number() OVER (PARTITION BY message_id ORDER BY event_time, event_id) AS n
    FROM bronze.message_events
    WHERE type IN ('send', 'inbound', 'reply')
), ranks AS (
    SELECT message_id, max(r.rank) AS rank
    FROM bronze.message_events e JOIN status_ranks r USING (status)
    WHERE e.type = 'status'
    GROUP BY message_id
)
SELECT f.message_id, f.client_id, f.recipient_key, f.country, f.category, f.kind, f.sent_at,
       CASE f.kind
           WHEN 'inbound' THEN 'received'
           WHEN 'reply' THEN 'sent'
           ELSE (SELECT s.status FROM status_ranks s WHERE s.rank = coalesce(r.rank, 0))
       END AS status
FROM firsts f LEFT JOIN ranks r USING (message_id)
WHERE f.n = 1
ORDER BY f.sent_at, f.message_id
