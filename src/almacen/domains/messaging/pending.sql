-- Status events whose message has no send in bronze: waiting for it, or orphans if it never comes.
SELECT e.message_id, e.client_id, e.status, e.event_time, e.event_id, e._batch_id
FROM bronze.message_events e
WHERE e.type = 'status'
  AND NOT EXISTS (SELECT 1 FROM bronze.message_events s WHERE s.type = 'send' AND s.message_id = e.message_id)
ORDER BY e.event_time, e.event_id
