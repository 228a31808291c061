-- Per branch and UTC hour of sale: source now vs gold + quarantine. Params: $start, $end.
WITH src AS (
    SELECT branch_id, date_trunc('hour', sold_at) AS hour, count(*) AS tickets,
           count(*) FILTER (WHERE status = 'aprobada') AS approved_tickets
    FROM source.sales WHERE sold_at >= $start AND sold_at < $end
    GROUP BY ALL
), src_revenue AS (
    SELECT s.branch_id, date_trunc('hour', s.sold_at) AS hour, sum(l.amount) AS revenue
    FROM source.sales s JOIN source.sales_lines l ON l.branch_id = s.branch_id AND l.sale_id = s.sale_id
    WHERE s.status = 'aprobada' AND s.sold_at >= $start AND s.sold_at < $end
    GROUP BY ALL
), gold AS (
    SELECT branch_id, hour, count(*) AS tickets, count(*) FILTER (WHERE status = 'aprobada') AS approved_tickets
    FROM gold.fact_sales WHERE hour >= $start AND hour < $end
    GROUP BY ALL
), gold_revenue AS (
    SELECT branch_id, hour, sum(revenue) AS revenue
    FROM gold.sales_hourly WHERE hour >= $start AND hour < $end
    GROUP BY ALL
), latest AS (
    -- each sale's latest header as almacen saw it, accepted or quarantined
    SELECT * FROM (
        SELECT branch_id, sale_id, sold_at, updated_at, status, _ingested_at, true AS accepted FROM silver.sales_versions
        UNION ALL
        SELECT branch_id, sale_id, sold_at, updated_at, status, _ingested_at, false FROM quarantine.sales
        WHERE sale_id IS NOT NULL
    )
    QUALIFY row_number() OVER (PARTITION BY branch_id, sale_id
                               ORDER BY updated_at DESC NULLS LAST, accepted DESC, _ingested_at DESC) = 1
), q AS (
    SELECT branch_id, date_trunc('hour', sold_at) AS hour, count(*) AS tickets,
           count(*) FILTER (WHERE status = 'aprobada') AS approved_tickets
    FROM latest WHERE NOT accepted AND sold_at >= $start AND sold_at < $end
    GROUP BY ALL
), q_revenue AS (
    SELECT h.branch_id, date_trunc('hour', h.sold_at) AS hour, sum(l.amount) AS revenue
    FROM quarantine.sales_lines l
    JOIN latest h ON h.branch_id = l.branch_id AND h.sale_id = l.sale_id AND h.updated_at = l.updated_at
    WHERE h.status = 'aprobada' AND h.sold_at >= $start AND h.sold_at < $end
    GROUP BY ALL
), keys AS (
    SELECT branch_id, hour FROM src UNION SELECT branch_id, hour FROM gold UNION SELECT branch_id, hour FROM q
), joined AS (
    SELECT k.branch_id, k.hour,
           coalesce(src.tickets, 0) AS source_tickets, coalesce(gold.tickets, 0) AS gold_tickets,
           coalesce(q.tickets, 0) AS quarantined_tickets,
           coalesce(src.approved_tickets, 0) AS source_approved, coalesce(gold.approved_tickets, 0) AS gold_approved,
           coalesce(q.approved_tickets, 0) AS quarantined_approved,
           coalesce(sr.revenue, 0)::DECIMAL(18,2) AS source_revenue, coalesce(gr.revenue, 0)::DECIMAL(18,2) AS gold_revenue,
           coalesce(qr.revenue, 0)::DECIMAL(18,2) AS quarantined_revenue
    FROM keys k
    JOIN branches USING (branch_id)
    LEFT JOIN src USING (branch_id, hour) LEFT JOIN gold USING (branch_id, hour) LEFT JOIN q USING (branch_id, hour)
    LEFT JOIN src_revenue sr USING (branch_id, hour) LEFT JOIN gold_revenue gr USING (branch_id, hour)
    LEFT JOIN q_revenue qr USING (branch_id, hour)
)
SELECT *,
       source_tickets = gold_tickets + quarantined_tickets
       AND source_approved = gold_approved + quarantined_approved
       AND source_revenue = gold_revenue + quarantined_revenue AS ok,
       now() AS checked_at
FROM joined
ORDER BY branch_id, hour
