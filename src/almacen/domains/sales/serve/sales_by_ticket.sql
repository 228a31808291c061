-- Approved sales per period (day, week or month) by branch, channel or payment type: tickets counted once.
SELECT date_trunc($grain, t.date)::DATE AS period,
       CASE $by WHEN 'branch' THEN t.branch_id WHEN 'channel' THEN t.channel ELSE t.payment_type END AS key,
       any_value(CASE $by WHEN 'branch' THEN coalesce(b.name, t.branch_id)
                WHEN 'channel' THEN t.channel ELSE t.payment_type END) AS label,
       sum(t.amount)::DECIMAL(18,2) AS revenue, sum(t.units)::DECIMAL(18,3) AS units, sum(t.sales)::BIGINT AS tickets,
       round(sum(t.amount) / nullif(sum(t.sales), 0), 2)::DECIMAL(18,2) AS avg_ticket
FROM gold.sales_tickets_daily t
LEFT JOIN gold.dim_branch b USING (branch_id)
WHERE t.status = 'aprobada' AND t.date BETWEEN $start AND $end
  AND ($branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], t.branch_id))
  AND ($channels::VARCHAR[] IS NULL OR list_contains($channels::VARCHAR[], t.channel))
  AND ($payment_types::VARCHAR[] IS NULL OR list_contains($payment_types::VARCHAR[], t.payment_type))
GROUP BY period, key
ORDER BY period, key
