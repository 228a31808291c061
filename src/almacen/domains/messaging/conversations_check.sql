-- Messages of silver.messages the conversation rule cannot place: no client, phone, time or id.
-- (The message quality rules keep them out; this makes a gap fail loudly rather than vanish.)
SELECT count(*) AS unplaced, min(message_id) AS first_id
FROM silver.messages
WHERE kind IN ('template', 'inbound', 'reply')
  AND (message_id IS NULL OR client_id IS NULL OR recipient_key IS NULL OR sent_at IS NULL)
