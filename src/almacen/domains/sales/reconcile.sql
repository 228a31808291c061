-- Per branch and UTC hour of sale: each source's control report against gold + quarantine. Params: $start, $end.
-- Registered by reconcile.py: source.sales and source.sales_lines (every branch's control rows, as text, times
-- in UTC; see controls/), and branches (branch_id, product_key: 'sku' or 'product_id', how its control names
-- products, so gold is compared in the same terms: by SKU through gold.dim_product, or by id).
-- Every measure must hold as source = gold + quarantined: tickets, approved tickets, approved revenue, and the
-- checksum: the exact sum, over every sale header and sale line, of the first 60 bits of md5 of its canonical text
--   S|sale_id|status|channel|payment_type
--   L|sale_id|line_no|product|quantity in thousandths|unit price in cents|amount in cents      ('-' for null)
-- A sum is order-independent and adds up across gold and quarantine; it sees a change that keeps counts and sums.
-- Runs on DuckDB and on Spark (transpiled): only md5, substr, instr, concat_ws and integer arithmetic, which both
-- compute alike. For each hour, `slices` lists the cut hours to re-extract: the hour of each differing sale's
-- cursor at the source (the `branch:<id>:<hour>` batch that holds its current version), else in the lake.
WITH src_sales AS (
    SELECT branch_id, sale_id, date_trunc('hour', sold_at) AS hour, date_trunc('hour', updated_at) AS cursor_hour,
           coalesce(TRY_CAST(approved AS INTEGER) = 1, false) AS approved, status, channel, payment_type
    FROM source.sales
    WHERE sold_at >= $start AND sold_at < $end
), latest AS (
    -- each sale's latest header as almacen saw it, accepted or quarantined
    SELECT * FROM (
        SELECT branch_id, sale_id, sold_at, updated_at, status, channel, payment_type, _ingested_at, true AS accepted
        FROM silver.sales_versions
        UNION ALL
        SELECT branch_id, sale_id, sold_at, updated_at, status, channel, payment_type, _ingested_at, false
        FROM quarantine.sales
        WHERE sale_id IS NOT NULL
    ) v
    QUALIFY row_number() OVER (PARTITION BY branch_id, sale_id
                               ORDER BY updated_at DESC NULLS LAST, accepted DESC, _ingested_at DESC) = 1
), headers AS (
    SELECT 'source' AS side, branch_id, sale_id, hour, cursor_hour, approved, status, channel, payment_type
    FROM src_sales
    UNION ALL
    SELECT 'gold', f.branch_id, f.sale_id, f.hour, date_trunc('hour', s.updated_at), f.status = 'aprobada',
           f.status, f.channel, f.payment_type
    FROM gold.fact_sales f
    LEFT JOIN silver.sales s ON s.branch_id = f.branch_id AND s.sale_id = f.sale_id
    WHERE f.hour >= $start AND f.hour < $end
    UNION ALL
    SELECT 'quarantine', branch_id, sale_id, date_trunc('hour', sold_at), date_trunc('hour', updated_at),
           status = 'aprobada', status, channel, payment_type
    FROM latest
    WHERE NOT accepted AND sold_at >= $start AND sold_at < $end
), lines AS (
    SELECT 'source' AS side, s.branch_id, s.sale_id, s.hour, s.approved, TRY_CAST(l.line_no AS INTEGER) AS line_no,
           CASE WHEN b.product_key = 'sku' THEN l.sku ELSE CAST(TRY_CAST(l.product_id AS BIGINT) AS VARCHAR) END AS product,
           TRY_CAST(l.quantity AS DECIMAL(12,3)) AS quantity, TRY_CAST(l.unit_price AS DECIMAL(18,2)) AS unit_price,
           TRY_CAST(l.amount AS DECIMAL(18,2)) AS amount
    FROM source.sales_lines l
    JOIN src_sales s ON s.branch_id = l.branch_id AND s.sale_id = l.sale_id
    JOIN branches b ON b.branch_id = l.branch_id
    UNION ALL
    SELECT 'gold', l.branch_id, l.sale_id, l.hour, l.status = 'aprobada', l.line_no,
           CASE WHEN b.product_key = 'sku' THEN p.sku ELSE CAST(l.product_id AS VARCHAR) END,
           l.quantity, l.unit_price, l.amount
    FROM gold.fact_sales_lines l
    JOIN branches b ON b.branch_id = l.branch_id
    LEFT JOIN gold.dim_product p ON p.product_id = l.product_id
    WHERE l.hour >= $start AND l.hour < $end
    UNION ALL
    -- quarantined lines of each sale's latest version (its header accepted or not)
    SELECT 'quarantine', h.branch_id, h.sale_id, date_trunc('hour', h.sold_at), h.status = 'aprobada', l.line_no,
           CASE WHEN b.product_key = 'sku' THEN l.sku ELSE CAST(l.product_id AS VARCHAR) END,
           l.quantity, l.unit_price, l.amount
    FROM quarantine.sales_lines l
    JOIN latest h ON h.branch_id = l.branch_id AND h.sale_id = l.sale_id AND h.updated_at = l.updated_at
    JOIN branches b ON b.branch_id = l.branch_id
    WHERE h.sold_at >= $start AND h.sold_at < $end
), texts AS (
    SELECT side, branch_id, sale_id, hour, cursor_hour, 'S' AS kind, approved, CAST(NULL AS DECIMAL(18,2)) AS amount,
           concat_ws('|', 'S', coalesce(sale_id, '-'), coalesce(status, '-'), coalesce(channel, '-'),
                     coalesce(payment_type, '-')) AS text
    FROM headers
    UNION ALL
    SELECT side, branch_id, sale_id, hour, CAST(NULL AS TIMESTAMPTZ), 'L', approved, amount,
           concat_ws('|', 'L', coalesce(sale_id, '-'), coalesce(CAST(line_no AS VARCHAR), '-'), coalesce(product, '-'),
                     coalesce(CAST(CAST(quantity * 1000 AS BIGINT) AS VARCHAR), '-'),
                     coalesce(CAST(CAST(unit_price * 100 AS BIGINT) AS VARCHAR), '-'),
                     coalesce(CAST(CAST(amount * 100 AS BIGINT) AS VARCHAR), '-'))
    FROM lines
), hashed AS (
    -- the first 15 hex digits (60 bits) of md5(text) as an integer, digit by digit (both engines agree on this)
    SELECT side, branch_id, sale_id, hour, cursor_hour, kind, approved, amount, CAST(
           (CAST(instr('0123456789abcdef', substr(m, 1, 1)) AS BIGINT) - 1) * 72057594037927936
         + (CAST(instr('0123456789abcdef', substr(m, 2, 1)) AS BIGINT) - 1) * 4503599627370496
         + (CAST(instr('0123456789abcdef', substr(m, 3, 1)) AS BIGINT) - 1) * 281474976710656
         + (CAST(instr('0123456789abcdef', substr(m, 4, 1)) AS BIGINT) - 1) * 17592186044416
         + (CAST(instr('0123456789abcdef', substr(m, 5, 1)) AS BIGINT) - 1) * 1099511627776
         + (CAST(instr('0123456789abcdef', substr(m, 6, 1)) AS BIGINT) - 1) * 68719476736
         + (CAST(instr('0123456789abcdef', substr(m, 7, 1)) AS BIGINT) - 1) * 4294967296
         + (CAST(instr('0123456789abcdef', substr(m, 8, 1)) AS BIGINT) - 1) * 268435456
         + (CAST(instr('0123456789abcdef', substr(m, 9, 1)) AS BIGINT) - 1) * 16777216
         + (CAST(instr('0123456789abcdef', substr(m, 10, 1)) AS BIGINT) - 1) * 1048576
         + (CAST(instr('0123456789abcdef', substr(m, 11, 1)) AS BIGINT) - 1) * 65536
         + (CAST(instr('0123456789abcdef', substr(m, 12, 1)) AS BIGINT) - 1) * 4096
         + (CAST(instr('0123456789abcdef', substr(m, 13, 1)) AS BIGINT) - 1) * 256
         + (CAST(instr('0123456789abcdef', substr(m, 14, 1)) AS BIGINT) - 1) * 16
         + (CAST(instr('0123456789abcdef', substr(m, 15, 1)) AS BIGINT) - 1) AS DECIMAL(38,0)) AS h
    FROM (SELECT *, md5(text) AS m FROM texts) t
), per_sale AS (
    SELECT branch_id, sale_id, hour,
           count(*) FILTER (WHERE side = 'source' AND kind = 'S') AS source_tickets,
           count(*) FILTER (WHERE side = 'gold' AND kind = 'S') AS gold_tickets,
           count(*) FILTER (WHERE side = 'quarantine' AND kind = 'S') AS quarantined_tickets,
           count(*) FILTER (WHERE side = 'source' AND kind = 'S' AND approved) AS source_approved,
           count(*) FILTER (WHERE side = 'gold' AND kind = 'S' AND approved) AS gold_approved,
           count(*) FILTER (WHERE side = 'quarantine' AND kind = 'S' AND approved) AS quarantined_approved,
           coalesce(sum(amount) FILTER (WHERE side = 'source' AND kind = 'L' AND approved), 0) AS source_revenue,
           coalesce(sum(amount) FILTER (WHERE side = 'quarantine' AND kind = 'L' AND approved), 0) AS quarantined_revenue,
           coalesce(sum(h) FILTER (WHERE side = 'source'), 0) AS source_checksum,
           coalesce(sum(h) FILTER (WHERE side = 'gold'), 0) AS gold_checksum,
           coalesce(sum(h) FILTER (WHERE side = 'quarantine'), 0) AS quarantined_checksum,
           max(cursor_hour) FILTER (WHERE side = 'source') AS source_cursor,
           max(cursor_hour) FILTER (WHERE side <> 'source') AS lake_cursor
    FROM hashed
    GROUP BY branch_id, sale_id, hour
), measures AS (
    SELECT branch_id, hour,
           sum(source_tickets) AS source_tickets, sum(gold_tickets) AS gold_tickets,
           sum(quarantined_tickets) AS quarantined_tickets, sum(source_approved) AS source_approved,
           sum(gold_approved) AS gold_approved, sum(quarantined_approved) AS quarantined_approved,
           sum(source_revenue) AS source_revenue, sum(quarantined_revenue) AS quarantined_revenue,
           sum(source_checksum) AS source_checksum, sum(gold_checksum) AS gold_checksum,
           sum(quarantined_checksum) AS quarantined_checksum,
           -- a sale differs when its own checksum does: re-extract the cut that holds its current version
           list_sort(list_distinct(list(CASE WHEN source_checksum <> gold_checksum + quarantined_checksum
                                             THEN coalesce(source_cursor, lake_cursor) END))) AS slices
    FROM per_sale
    GROUP BY branch_id, hour
), gold_revenue AS (
    SELECT branch_id, hour, sum(revenue) AS revenue
    FROM gold.sales_hourly
    WHERE hour >= $start AND hour < $end
    GROUP BY branch_id, hour
), keys AS (
    SELECT branch_id, hour FROM measures UNION SELECT branch_id, hour FROM gold_revenue
), joined AS (
    SELECT k.branch_id, k.hour,
           CAST(coalesce(m.source_tickets, 0) AS BIGINT) AS source_tickets,
           CAST(coalesce(m.gold_tickets, 0) AS BIGINT) AS gold_tickets,
           CAST(coalesce(m.quarantined_tickets, 0) AS BIGINT) AS quarantined_tickets,
           CAST(coalesce(m.source_approved, 0) AS BIGINT) AS source_approved,
           CAST(coalesce(m.gold_approved, 0) AS BIGINT) AS gold_approved,
           CAST(coalesce(m.quarantined_approved, 0) AS BIGINT) AS quarantined_approved,
           CAST(coalesce(m.source_revenue, 0) AS DECIMAL(18,2)) AS source_revenue,
           CAST(coalesce(g.revenue, 0) AS DECIMAL(18,2)) AS gold_revenue,
           CAST(coalesce(m.quarantined_revenue, 0) AS DECIMAL(18,2)) AS quarantined_revenue,
           CAST(coalesce(m.source_checksum, 0) AS DECIMAL(38,0)) AS source_checksum,
           CAST(coalesce(m.gold_checksum, 0) AS DECIMAL(38,0)) AS gold_checksum,
           CAST(coalesce(m.quarantined_checksum, 0) AS DECIMAL(38,0)) AS quarantined_checksum,
           m.slices
    FROM keys k
    JOIN branches b ON b.branch_id = k.branch_id
    LEFT JOIN measures m ON m.branch_id = k.branch_id AND m.hour = k.hour
    LEFT JOIN gold_revenue g ON g.branch_id = k.branch_id AND g.hour = k.hour
), judged AS (
    SELECT *,
           concat_ws(', ',
                     CASE WHEN source_tickets <> gold_tickets + quarantined_tickets THEN 'tickets' END,
                     CASE WHEN source_approved <> gold_approved + quarantined_approved THEN 'approved tickets' END,
                     CASE WHEN source_revenue <> gold_revenue + quarantined_revenue THEN 'approved revenue' END,
                     CASE WHEN source_checksum <> gold_checksum + quarantined_checksum THEN 'checksum' END) AS differs
    FROM joined
)
SELECT branch_id, hour, source_tickets, gold_tickets, quarantined_tickets, source_approved, gold_approved,
       quarantined_approved, source_revenue, gold_revenue, quarantined_revenue, source_checksum, gold_checksum,
       quarantined_checksum, differs, slices, differs = '' AS ok, now() AS checked_at
FROM judged
ORDER BY branch_id, hour
