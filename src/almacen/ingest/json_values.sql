-- Strict readers of one field of a JSON event, and the checks of a payload before it is read.
--
-- The parse SQL reads each document once, with from_json into a struct: a field whose JSON type has
-- to be told from its text is taken as "JSON" (its JSON text: '"2450.00"', '12', '1.5', 'true'); a
-- string field as "VARCHAR" (the string itself, unescaped; a value of another type comes as its JSON
-- text: '1.5', 'true', '{"a":1}'). NULL means absent or JSON null. Each reader returns the value in
-- its declared type, or NULL when it is not exactly of that type; the parse SQL lists a field that was
-- present but reads as NULL in `_untyped` (rule `type:<field>`).
-- TRY_CAST alone is not strict: it rounds 321.5 to 322, reads '0x44f' as 1103, trims ' 12', and takes
-- '1_000', '+5', '1e3' and the text of a string. yyjson writes a number back in its shortest form: an
-- integer as bare digits, any other number with a '.' or an exponent ('1.0', '1e-07'), a number too
-- large for 64 bits as written; so a JSON integer is a value whose text is exactly a BIGINT's.

-- a string field ("VARCHAR"): `v`, unless its text could be a non-string value's. Those are numbers
-- (beginning with '-' or a digit; all of them cast to DOUBLE, 1e400 as infinity), true, false, NaN,
-- Infinity, objects and arrays; only such a text (a string of digits such as "1234", "true", "{...}":
-- rare) has the document looked at again, for that one field's type. The cheapest tests come first.
CREATE OR REPLACE TEMP MACRO json_string(v, doc, path) AS
    CASE WHEN v IS NULL THEN NULL
         WHEN v >= ':' AND v NOT IN ('true', 'false', 'NaN', 'Infinity') AND v NOT LIKE '{%' AND v NOT LIKE '[%' THEN v
         WHEN v < '-' THEN v
         WHEN v < ':' AND TRY_CAST(v AS DOUBLE) IS NULL THEN v
         WHEN json_type(doc, path) = 'VARCHAR' THEN v END;

-- a JSON integer within BIGINT ("JSON"): not 1.0, 1e3, 2**63, "12" or true
CREATE OR REPLACE TEMP MACRO json_bigint(v) AS
    CASE WHEN TRY_CAST(v AS BIGINT)::VARCHAR = v THEN TRY_CAST(v AS BIGINT) END;

-- a JSON integer within BIGINT ("JSON"), as its text (a version number, compared as text)
CREATE OR REPLACE TEMP MACRO json_integer_text(v) AS
    CASE WHEN TRY_CAST(v AS BIGINT)::VARCHAR = v THEN v END;

-- a JSON number ("JSON") that DECIMAL(12, 3) holds exactly (at most 3 decimals and 9 integer digits;
-- not NaN, Infinity or a string); an exponent is read by its value (2.5e0 is 2.5)
CREATE OR REPLACE TEMP MACRO json_decimal_12_3(v) AS
    CASE WHEN TRY_CAST(v AS DECIMAL(12, 3)) = TRY_CAST(v AS DOUBLE) THEN TRY_CAST(v AS DECIMAL(12, 3)) END;

-- a decimal string ("JSON", so with its quotes) for DECIMAL(18, 2): optional minus, digits without
-- leading zeros, at most 2 decimals ("2450.00", "-12.5", "0"); not a JSON number, " 12", "1e3",
-- "+5", ".5" or "12.345"
CREATE OR REPLACE TEMP MACRO json_money(v) AS
    CASE WHEN regexp_full_match(v, '"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?"') THEN TRY_CAST(replace(v, '"', '') AS DECIMAL(18, 2)) END;

-- an ISO 8601 timestamp string ("VARCHAR": no non-string value has this text) with Z or an offset, up
-- to microseconds, years 1000-2999 ("2026-11-24T14:03:21.123456Z", "2026-11-24T11:03:21-03:00"); not a
-- date alone, a space for the T, no zone, 24:00, a leap second, nanoseconds (they would be cut) or
-- an offset beyond 23:59
CREATE OR REPLACE TEMP MACRO json_timestamptz(v) AS
    CASE WHEN regexp_full_match(v, '[12][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])')
         THEN TRY_CAST(v AS TIMESTAMPTZ) END;

-- why a payload was not parsed at all (NULL when it was): checked before any JSON is read
CREATE OR REPLACE TEMP MACRO payload_error(bytes, text, max_bytes) AS
    CASE WHEN bytes IS NULL THEN 'no payload: a null value (a Kafka tombstone)'
         WHEN bytes = 0 THEN 'the payload is empty'
         WHEN bytes > max_bytes THEN 'the payload is larger than ' || max_bytes || ' bytes'
         WHEN text IS NULL THEN 'the payload is not valid UTF-8 text' END;

-- whether a payload's text opens a JSON object (JSON allows leading space, tab, CR and LF)
CREATE OR REPLACE TEMP MACRO json_opens_object(text) AS
    text LIKE '{%' OR ltrim(text, chr(32) || chr(9) || chr(10) || chr(13)) LIKE '{%';

-- why a payload's text is not a JSON object, for the rows whose parse gave none
CREATE OR REPLACE TEMP MACRO json_not_object(text) AS
    CASE WHEN NOT json_valid(text) THEN 'the payload is not a JSON object (malformed JSON)'
         ELSE 'the payload is not a JSON object: got ' || CASE json_type(text) WHEN 'ARRAY' THEN 'an array'
             WHEN 'VARCHAR' THEN 'a string' WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null'
             ELSE 'a number' END END;

-- the payload's fields as `spec` gives them. This trusts every payload to be well-formed JSON: one
-- pass, which fails the query on a malformed one (an array or a scalar gives a struct of NULLs);
-- `parse_events` then reads the batch again with json_event_checked, which checks each payload
-- first. (TRY(from_json(...)) would cost two fifths more on every batch.)
CREATE OR REPLACE TEMP MACRO json_event(text, spec) AS from_json(text, spec);

CREATE OR REPLACE TEMP MACRO json_event_checked(text, spec) AS
    CASE WHEN json_valid(text) THEN TRY(from_json(text, spec)) END;
