-- Raw message events (`raw_events`: _text, _shown, _stream, _position, _batch_id) to typed columns,
-- as events.sql does for sale events: one JSON pass, values that do not convert listed in _untyped,
-- a payload that is not a JSON object gets _parse_error. Nothing here fails the batch.
WITH parsed AS (
    SELECT *, CASE WHEN json_valid(_text) AND json_type(_text) = 'OBJECT' THEN from_json(_text, '{
        "schema_version": "VARCHAR", "event_id": "VARCHAR", "event_time": "VARCHAR", "type": "VARCHAR",
        "message_id": "VARCHAR", "client_id": "VARCHAR", "recipient": "VARCHAR", "country": "VARCHAR",
        "category": "VARCHAR", "template": "VARCHAR", "status": "VARCHAR"}') END AS j
    FROM raw_events
)
SELECT
    j.schema_version AS schema_version,
    j.event_id AS event_id,
    TRY_CAST(j.event_time AS TIMESTAMPTZ) AS event_time,
    j.type AS type,
    j.message_id AS message_id,
    j.client_id AS client_id,
    j.recipient AS recipient,
    j.country AS country,
    j.category AS category,
    j.template AS template,
    j.status AS status,
    list_filter([
        CASE WHEN j.event_time IS NOT NULL AND TRY_CAST(j.event_time AS TIMESTAMPTZ) IS NULL THEN 'event_time' END
    ], lambda x: x IS NOT NULL) AS _untyped,
    CASE
        WHEN _text IS NULL THEN 'the payload is not valid UTF-8 text'
        WHEN j IS NULL THEN 'the payload is not a JSON object (malformed JSON)'
    END AS _parse_error,
    _shown AS _raw,
    _stream, _position, _batch_id
FROM parsed
