-- Approved sales per period by any dimension when categories are involved: a ticket counts once in
-- each category it holds, so tickets are "tickets with that category".
SELECT date_trunc($grain, s.date)::DATE AS period,
       CASE $by WHEN 'branch' THEN s.branch_id WHEN 'channel' THEN s.channel
                WHEN 'payment_type' THEN s.payment_type ELSE s.category END AS key,
       any_value(CASE $by WHEN 'branch' THEN coalesce(b.name, s.branch_id) WHEN 'channel' THEN s.channel
                WHEN 'payment_type' THEN s.payment_type ELSE s.category END) AS label,
       sum(s.revenue)::DECIMAL(18,2) AS revenue, sum(s.units)::DECIMAL(18,3) AS units, sum(s.tickets)::BIGINT AS tickets,
       round(sum(s.revenue) / nullif(sum(s.tickets), 0), 2)::DECIMAL(18,2) AS avg_ticket
FROM gold.sales_daily s
LEFT JOIN gold.dim_branch b USING (branch_id)
WHERE s.date BETWEEN $start AND $end
  AND ($branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], s.branch_id))
  AND ($categories::VARCHAR[] IS NULL OR list_contains($categories::VARCHAR[], s.category))
  AND ($channels::VARCHAR[] IS NULL OR list_contains($channels::VARCHAR[], s.channel))
  AND ($payment_types::VARCHAR[] IS NULL OR list_contains($payment_types::VARCHAR[], s.payment_type))
GROUP BY period, key
ORDER BY period, key
