-- Management KPIs of the asked period, the period just before it and the same days a week earlier.
-- Every filter is a bound parameter; NULL means "no filter".
WITH periods(period, first_day, last_day) AS (
    VALUES ('current', $start, $end), ('previous', $prev_start, $prev_end), ('last_week', $week_start, $week_end)
), t AS (
    SELECT date, status, sales, units, amount
    FROM gold.sales_tickets_daily
    WHERE ($branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id))
      AND ($channels::VARCHAR[] IS NULL OR list_contains($channels::VARCHAR[], channel))
      AND ($payment_types::VARCHAR[] IS NULL OR list_contains($payment_types::VARCHAR[], payment_type))
)
SELECT p.period, p.first_day, p.last_day,
       coalesce(sum(t.amount) FILTER (WHERE t.status = 'aprobada'), 0)::DECIMAL(18,2) AS revenue,
       coalesce(sum(t.sales) FILTER (WHERE t.status = 'aprobada'), 0)::BIGINT AS tickets,
       round(sum(t.amount) FILTER (WHERE t.status = 'aprobada')
             / nullif(sum(t.sales) FILTER (WHERE t.status = 'aprobada'), 0), 2)::DECIMAL(18,2) AS avg_ticket,
       round(sum(t.units) FILTER (WHERE t.status = 'aprobada')::DOUBLE
             / nullif(sum(t.sales) FILTER (WHERE t.status = 'aprobada'), 0), 2) AS units_per_ticket,
       round(sum(t.sales) FILTER (WHERE t.status = 'aprobada')::DOUBLE / nullif(sum(t.sales), 0), 4) AS approval_rate
FROM periods p
LEFT JOIN t ON t.date BETWEEN p.first_day AND p.last_day
GROUP BY ALL
