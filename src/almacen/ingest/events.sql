-- Raw sale events (`raw_events`: _text, _shown, _stream, _position, _batch_id) to typed columns.
-- _text is null where the payload was not UTF-8; _shown is the payload as quarantine keeps it.
-- A value that is present but does not convert is listed in _untyped (the gate quarantines it);
-- a payload that is not a JSON object gets _parse_error. Nothing here fails the batch.
WITH parsed AS (
    -- one parse into a struct of texts (`->>` per field would parse the document once per field)
    SELECT *, CASE WHEN json_valid(_text) AND json_type(_text) = 'OBJECT' THEN from_json(_text, '{
        "schema_version": "VARCHAR", "event_id": "VARCHAR", "event_time": "VARCHAR", "branch_id": "VARCHAR",
        "channel": "VARCHAR", "product_id": "VARCHAR", "quantity": "VARCHAR", "amount": "VARCHAR",
        "payment_type": "VARCHAR", "status": "VARCHAR"}') END AS j
    FROM raw_events
), fields AS (
    SELECT
        _stream, _position, _batch_id, _text, _shown, j,
        j.schema_version,
        j.event_id,
        j.event_time AS event_time_text,
        j.branch_id,
        j.channel,
        j.product_id AS product_id_text,
        j.quantity AS quantity_text,
        j.amount AS amount_text,
        j.payment_type,
        j.status
    FROM parsed
)
SELECT
    schema_version,
    event_id,
    TRY_CAST(event_time_text AS TIMESTAMPTZ) AS event_time,
    branch_id,
    channel,
    TRY_CAST(product_id_text AS BIGINT) AS product_id,
    TRY_CAST(quantity_text AS DECIMAL(12, 3)) AS quantity,
    TRY_CAST(amount_text AS DECIMAL(18, 2)) AS amount,
    payment_type,
    status,
    list_filter([
        CASE WHEN event_time_text IS NOT NULL AND TRY_CAST(event_time_text AS TIMESTAMPTZ) IS NULL THEN 'event_time' END,
        CASE WHEN product_id_text IS NOT NULL AND TRY_CAST(product_id_text AS BIGINT) IS NULL THEN 'product_id' END,
        CASE WHEN quantity_text IS NOT NULL AND TRY_CAST(quantity_text AS DECIMAL(12, 3)) IS NULL THEN 'quantity' END,
        CASE WHEN amount_text IS NOT NULL AND TRY_CAST(amount_text AS DECIMAL(18, 2)) IS NULL THEN 'amount' END
    ], lambda x: x IS NOT NULL) AS _untyped,
    CASE
        WHEN _text IS NULL THEN 'the payload is not valid UTF-8 text'
        WHEN j IS NULL THEN 'the payload is not a JSON object (malformed JSON)'
    END AS _parse_error,
    _shown AS _raw,
    _stream, _position, _batch_id
FROM fields
