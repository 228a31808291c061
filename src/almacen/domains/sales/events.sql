-- Raw sale events (`raw_events`: _text, _shown, _bytes, _stream, _position, _batch_id) to typed columns.
-- _bytes is the payload's size (NULL for a null payload); _text its text, NULL where it was null,
-- not UTF-8 or larger than $max_payload_bytes; _shown is the payload as quarantine keeps it.
-- One JSON pass: from_json into a struct of the fields, read strictly by the readers of json_values.sql
-- (numbers and the amount as their JSON text, strings as strings); a field present but not of its type
-- is listed in _untyped (the gate quarantines it as type:<field>); a payload that is not a JSON object
-- gets _parse_error. A malformed object fails the query (json_event trusts them): parse_events then
-- reads the batch again, checking each payload first.
WITH parsed AS (
    SELECT *, json_event(_text, '{
        "schema_version": "JSON", "event_id": "VARCHAR", "event_time": "VARCHAR", "branch_id": "VARCHAR",
        "channel": "VARCHAR", "product_id": "JSON", "quantity": "JSON", "amount": "JSON",
        "payment_type": "VARCHAR", "status": "VARCHAR"}') AS j
    FROM raw_events
), fields AS (
    SELECT _stream, _position, _batch_id, _text, _bytes, _shown, j,
        j.schema_version::VARCHAR AS v_schema_version, j.event_id AS v_event_id, j.event_time AS v_event_time,
        j.branch_id AS v_branch_id, j.channel AS v_channel, j.product_id::VARCHAR AS v_product_id,
        j.quantity::VARCHAR AS v_quantity, j.amount::VARCHAR AS v_amount, j.payment_type AS v_payment_type,
        j.status AS v_status
    FROM parsed
), typed AS (
    SELECT *,
        json_integer_text(v_schema_version) AS schema_version,
        json_string(v_event_id, _text, '$.event_id') AS event_id,
        json_timestamptz(v_event_time) AS event_time,
        json_string(v_branch_id, _text, '$.branch_id') AS branch_id,
        json_string(v_channel, _text, '$.channel') AS channel,
        json_bigint(v_product_id) AS product_id,
        json_decimal_12_3(v_quantity) AS quantity,
        json_money(v_amount) AS amount,
        json_string(v_payment_type, _text, '$.payment_type') AS payment_type,
        json_string(v_status, _text, '$.status') AS status
    FROM fields
)
SELECT
    schema_version, event_id, event_time, branch_id, channel, product_id, quantity, amount, payment_type, status,
    -- the fields present but not of their type (NULL, read as none, where every field is)
    CASE WHEN (v_schema_version IS NOT NULL AND schema_version IS NULL)
        OR (v_event_id IS NOT NULL AND event_id IS NULL)
        OR (v_event_time IS NOT NULL AND event_time IS NULL)
        OR (v_branch_id IS NOT NULL AND branch_id IS NULL)
        OR (v_channel IS NOT NULL AND channel IS NULL)
        OR (v_product_id IS NOT NULL AND product_id IS NULL)
        OR (v_quantity IS NOT NULL AND quantity IS NULL)
        OR (v_amount IS NOT NULL AND amount IS NULL)
        OR (v_payment_type IS NOT NULL AND payment_type IS NULL)
        OR (v_status IS NOT NULL AND status IS NULL)
    THEN list_filter([
        CASE WHEN v_schema_version IS NOT NULL AND schema_version IS NULL THEN 'schema_version' END,
        CASE WHEN v_event_id IS NOT NULL AND event_id IS NULL THEN 'event_id' END,
        CASE WHEN v_event_time IS NOT NULL AND event_time IS NULL THEN 'event_time' END,
        CASE WHEN v_branch_id IS NOT NULL AND branch_id IS NULL THEN 'branch_id' END,
        CASE WHEN v_channel IS NOT NULL AND channel IS NULL THEN 'channel' END,
        CASE WHEN v_product_id IS NOT NULL AND product_id IS NULL THEN 'product_id' END,
        CASE WHEN v_quantity IS NOT NULL AND quantity IS NULL THEN 'quantity' END,
        CASE WHEN v_amount IS NOT NULL AND amount IS NULL THEN 'amount' END,
        CASE WHEN v_payment_type IS NOT NULL AND payment_type IS NULL THEN 'payment_type' END,
        CASE WHEN v_status IS NOT NULL AND status IS NULL THEN 'status' END
    ], lambda x: x IS NOT NULL) END AS _untyped,
    coalesce(payload_error(_bytes, _text, $max_payload_bytes),
             CASE WHEN j IS NULL OR NOT json_opens_object(_text) THEN json_not_object(_text) END) AS _parse_error,
    _shown AS _raw,
    _stream, _position, _batch_id
FROM typed
