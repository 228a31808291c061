-- One row per sale: its latest accepted version (by updated_at, then by when it was ingested).
SELECT branch_id, sale_id, sold_at, updated_at, channel, payment_type, status, customer_key, total,
       _batch_id, _cutoff, _source, _ingested_at
FROM silver.sales_versions
QUALIFY row_number() OVER (PARTITION BY branch_id, sale_id ORDER BY updated_at DESC, _ingested_at DESC) = 1
