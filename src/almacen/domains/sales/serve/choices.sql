-- What the filter controls offer: the branches in `$branches` (NULL: every branch) by name, then the
-- product categories, as (kind, value, label) rows.
SELECT kind, value, label
FROM (
    SELECT 'branch' AS kind, branch_id AS value, name AS label
    FROM gold.dim_branch
    WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
    UNION ALL
    SELECT DISTINCT 'category', category, category
    FROM gold.dim_product
    WHERE category IS NOT NULL
)
ORDER BY kind, label, value
