-- access: branch
-- keys: branch_id, sale_id, line_no
-- One row per sale line, with its product category and its sale's attributes.
SELECT l.branch_id, l.sale_id, l.line_no, f.sold_at, f.hour, f.date, f.channel, f.payment_type, f.status,
       l.product_id, coalesce(p.category, 'Sin categoría') AS category, l.quantity, l.unit_price, l.amount
FROM silver.sales_lines l
JOIN gold.fact_sales f USING (branch_id, sale_id)
LEFT JOIN silver.products p USING (product_id)
