-- Raw message events (`raw_events`: _text, _shown, _bytes, _stream, _position, _batch_id) to typed
-- columns, as events.sql does for sale events: one JSON pass, each field read strictly by the readers
-- of json_values.sql, a field present but not of its type listed in _untyped, a payload that is not a
-- JSON object given a _parse_error; a malformed object makes parse_events read the batch again.
WITH parsed AS (
    SELECT *, json_event(_text, '{
        "schema_version": "JSON", "event_id": "VARCHAR", "event_time": "VARCHAR", "type": "VARCHAR",
        "message_id": "VARCHAR", "client_id": "VARCHAR", "recipient": "VARCHAR", "country": "VARCHAR",
        "category": "VARCHAR", "template": "VARCHAR", "status": "VARCHAR"}') AS j
    FROM raw_events
), fields AS (
    SELECT _stream, _position, _batch_id, _text, _bytes, _shown, j,
        j.schema_version::VARCHAR AS v_schema_version, j.event_id AS v_event_id, j.event_time AS v_event_time,
        j.type AS v_type, j.message_id AS v_message_id, j.client_id AS v_client_id, j.recipient AS v_recipient,
        j.country AS v_country, j.category AS v_category, j.template AS v_template, j.status AS v_status
    FROM parsed
), typed AS (
    SELECT *,
        json_integer_text(v_schema_version) AS schema_version,
        json_string(v_event_id, _text, '$.event_id') AS event_id,
        json_timestamptz(v_event_time) AS event_time,
        json_string(v_type, _text, '$.type') AS type,
        json_string(v_message_id, _text, '$.message_id') AS message_id,
        json_string(v_client_id, _text, '$.client_id') AS client_id,
        json_string(v_recipient, _text, '$.recipient') AS recipient,
        json_string(v_country, _text, '$.country') AS country,
        json_string(v_category, _text, '$.category') AS category,
        json_string(v_template, _text, '$.template') AS template,
        json_string(v_status, _text, '$.status') AS status
    FROM fields
)
SELECT
    schema_version, event_id, event_time, type, message_id, client_id, recipient, country, category, template,
    status,
    -- the fields present but not of their type (NULL, read as none, where every field is)
    CASE WHEN (v_schema_version IS NOT NULL AND schema_version IS NULL)
        OR (v_event_id IS NOT NULL AND event_id IS NULL)
        OR (v_event_time IS NOT NULL AND event_time IS NULL)
        OR (v_type IS NOT NULL AND type IS NULL)
        OR (v_message_id IS NOT NULL AND message_id IS NULL)
        OR (v_client_id IS NOT NULL AND client_id IS NULL)
        OR (v_recipient IS NOT NULL AND recipient IS NULL)
        OR (v_country IS NOT NULL AND country IS NULL)
        OR (v_category IS NOT NULL AND category IS NULL)
        OR (v_template IS NOT NULL AND template IS NULL)
        OR (v_status IS NOT NULL AND status IS NULL)
    THEN list_filter([
        CASE WHEN v_schema_version IS NOT NULL AND schema_version IS NULL THEN 'schema_version' END,
        CASE WHEN v_event_id IS NOT NULL AND event_id IS NULL THEN 'event_id' END,
        CASE WHEN v_event_time IS NOT NULL AND event_time IS NULL THEN 'event_time' END,
        CASE WHEN v_type IS NOT NULL AND type IS NULL THEN 'type' END,
        CASE WHEN v_message_id IS NOT NULL AND message_id IS NULL THEN 'message_id' END,
        CASE WHEN v_client_id IS NOT NULL AND client_id IS NULL THEN 'client_id' END,
        CASE WHEN v_recipient IS NOT NULL AND recipient IS NULL THEN 'recipient' END,
        CASE WHEN v_country IS NOT NULL AND country IS NULL THEN 'country' END,
        CASE WHEN v_category IS NOT NULL AND category IS NULL THEN 'category' END,
        CASE WHEN v_template IS NOT NULL AND template IS NULL THEN 'template' END,
        CASE WHEN v_status IS NOT NULL AND status IS NULL THEN 'status' END
    ], lambda x: x IS NOT NULL) END AS _untyped,
    coalesce(payload_error(_bytes, _text, $max_payload_bytes),
             CASE WHEN j IS NULL OR NOT json_opens_object(_text) THEN json_not_object(_text) END) AS _parse_error,
    _shown AS _raw,
    _stream, _position, _batch_id
FROM typed
