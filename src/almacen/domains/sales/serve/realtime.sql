-- Approved sales per minute of the last `$minutes` minutes up to `$until`, every minute present
-- (zero when nothing sold), from the streaming rollup gold.sales_minute.
WITH minutes AS (
    SELECT unnest(generate_series($until - to_minutes($minutes - 1), $until, INTERVAL 1 MINUTE)) AS minute
), m AS (
    SELECT minute, sum(events)::BIGINT AS sales, sum(units)::DECIMAL(18,3) AS units, sum(amount)::DECIMAL(18,2) AS amount
    FROM gold.sales_minute
    WHERE status = 'aprobada' AND minute BETWEEN $until - to_minutes($minutes - 1) AND $until
      AND ($branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id))
      AND ($channels::VARCHAR[] IS NULL OR list_contains($channels::VARCHAR[], channel))
      AND ($payment_types::VARCHAR[] IS NULL OR list_contains($payment_types::VARCHAR[], payment_type))
    GROUP BY minute
)
SELECT minutes.minute, coalesce(m.sales, 0)::BIGINT AS sales, coalesce(m.units, 0)::DECIMAL(18,3) AS units,
       coalesce(m.amount, 0)::DECIMAL(18,2) AS amount
FROM minutes LEFT JOIN m USING (minute)
ORDER BY minutes.minute
