-- access: branch
-- keys: branch_id, sale_id
-- One row per sale with its business date and hour, status and totals of its accepted lines.
SELECT s.branch_id, s.sale_id, s.sold_at, date_trunc('hour', s.sold_at) AS hour,
       (s.sold_at AT TIME ZONE $timezone)::DATE AS date, s.channel, s.payment_type, s.status, s.customer_key,
       s.total, coalesce(l.lines, 0) AS lines, coalesce(l.units, 0)::DECIMAL(18,3) AS units,
       coalesce(l.amount, 0)::DECIMAL(18,2) AS lines_amount
FROM silver.sales s
LEFT JOIN (
    SELECT branch_id, sale_id, count(*) AS lines, sum(quantity) AS units, sum(amount) AS amount
    FROM silver.sales_lines GROUP BY ALL
) l USING (branch_id, sale_id)
