-- Raw return events (`raw_events`: _text, _shown, _bytes, _stream, _position, _batch_id) to typed columns,
-- with the readers every stream kind shares (ingest/json_values.sql), as domains/sales/events.sql does.
WITH parsed AS (
    SELECT *, json_event(_text, '{
        "event_id": "VARCHAR", "event_time": "VARCHAR", "branch_id": "VARCHAR", "reason": "VARCHAR",
        "amount": "JSON"}') AS j
    FROM raw_events
), typed AS (
    SELECT *,
        json_string(j.event_id, _text, '$.event_id') AS event_id,
        json_timestamptz(j.event_time) AS event_time,
        json_string(j.branch_id, _text, '$.branch_id') AS branch_id,
        json_string(j.reason, _text, '$.reason') AS reason,
        json_money(j.amount::VARCHAR) AS amount
    FROM parsed
)
SELECT
    event_id, event_time, branch_id, reason, amount,
    CASE WHEN j.event_time IS NOT NULL AND event_time IS NULL THEN ['event_time']
         WHEN j.amount IS NOT NULL AND amount IS NULL THEN ['amount'] END AS _untyped,
    coalesce(payload_error(_bytes, _text, $max_payload_bytes),
             CASE WHEN j IS NULL OR NOT json_opens_object(_text) THEN json_not_object(_text) END) AS _parse_error,
    _shown AS _raw,
    _stream, _position, _batch_id
FROM typed
