-- The passing rows of a batch read again after a crash that quarantine does not already hold: per
-- (stream, position, payload), as many rows of `gap_passed` are left out as quarantine held before
-- (`gap_before`) beyond what this batch quarantines again (`gap_again`). Returns the kept `_row`s.
WITH before AS (
    SELECT _stream, _position, _raw, count(*) AS n FROM gap_before GROUP BY ALL
), again AS (
    SELECT _stream, _position, _raw, count(*) AS n FROM gap_again GROUP BY ALL
), excess AS (
    SELECT b._stream, b._position, b._raw, b.n - coalesce(a.n, 0) AS drop_n
    FROM before b LEFT JOIN again a USING (_stream, _position, _raw)
)
SELECT p._row
FROM (SELECT *, row_number() OVER (PARTITION BY _stream, _position, _raw ORDER BY _row) AS k FROM gap_passed) p
LEFT JOIN excess e USING (_stream, _position, _raw)
WHERE p.k > coalesce(e.drop_n, 0)
ORDER BY p._row
