-- Each sale of the batch with the latest version of it that other batches already loaded (if any):
-- the quality gate refuses a version older than that (a cursor that went backwards).
SELECT b.*, k.updated_at AS _known_updated_at
FROM batch_sales_raw b
LEFT JOIN (
    SELECT branch_id, sale_id, max(updated_at) AS updated_at
    FROM silver.sales_versions
    WHERE NOT list_contains($batch_ids, _batch_id)
      AND (branch_id, sale_id) IN (SELECT (branch_id, sale_id) FROM batch_sales_raw)
    GROUP BY ALL
) k ON k.branch_id = b.branch_id AND k.sale_id = b.sale_id
