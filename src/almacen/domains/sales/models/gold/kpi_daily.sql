-- access: branch
-- keys: date, branch_id
-- Daily KPIs per branch with their trend versus the previous day and the same weekday last week.
WITH day AS (
    SELECT date, branch_id,
           sum(lines_amount) FILTER (WHERE status = 'aprobada')::DECIMAL(18,2) AS revenue,
           count(*) FILTER (WHERE status = 'aprobada') AS tickets,
           sum(units) FILTER (WHERE status = 'aprobada') AS units,
           count(*) AS sales
    FROM gold.fact_sales GROUP BY ALL
), kpi AS (
    SELECT date, branch_id, coalesce(revenue, 0)::DECIMAL(18,2) AS revenue, tickets,
           round(revenue / nullif(tickets, 0), 2)::DECIMAL(18,2) AS avg_ticket,
           round(units::DOUBLE / nullif(tickets, 0), 2) AS units_per_ticket,
           round(tickets / sales, 4) AS approval_rate
    FROM day
)
SELECT k.*, p.revenue AS revenue_prev_day, w.revenue AS revenue_same_weekday_last_week,
       round(100 * (k.revenue - p.revenue)::DOUBLE / nullif(p.revenue, 0), 1) AS revenue_vs_prev_day_pct,
       round(100 * (k.revenue - w.revenue)::DOUBLE / nullif(w.revenue, 0), 1) AS revenue_vs_last_week_pct,
       p.tickets AS tickets_prev_day, w.tickets AS tickets_same_weekday_last_week
FROM kpi k
LEFT JOIN kpi p ON p.branch_id = k.branch_id AND p.date = k.date - INTERVAL 1 DAY
LEFT JOIN kpi w ON w.branch_id = k.branch_id AND w.date = k.date - INTERVAL 7 DAY
