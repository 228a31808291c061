-- The lines of each sale's latest version (lines travel with their header's updated_at).
SELECT l.branch_id, l.sale_id, l.line_no, l.product_id, l.sku, l.quantity, l.unit_price, l.amount,
       l.updated_at, l._batch_id, l._cutoff, l._source, l._ingested_at
FROM silver.sales_lines_versions l
JOIN silver.sales s ON s.branch_id = l.branch_id AND s.sale_id = l.sale_id AND s.updated_at = l.updated_at
QUALIFY row_number() OVER (PARTITION BY l.branch_id, l.sale_id, l.line_no ORDER BY l._ingested_at DESC) = 1
