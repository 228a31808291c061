-- access: branch
-- keys: date, branch_id, category, payment_type, channel
-- Approved sales by business date × branch × category × payment type × channel.
SELECT date, branch_id, category, payment_type, channel,
       sum(quantity)::DECIMAL(18,3) AS units, sum(amount)::DECIMAL(18,2) AS revenue, count(DISTINCT sale_id) AS tickets,
       round(sum(amount) / count(DISTINCT sale_id), 2)::DECIMAL(18,2) AS avg_ticket
FROM gold.fact_sales_lines
WHERE status = 'aprobada'
GROUP BY date, branch_id, category, payment_type, channel
