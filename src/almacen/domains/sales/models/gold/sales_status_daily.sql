-- access: branch
-- keys: date, branch_id, status
-- Every sale by business date × branch × status: what is not revenue is still reported.
SELECT date, branch_id, status, count(*) AS sales, sum(lines_amount)::DECIMAL(18,2) AS amount
FROM gold.fact_sales
GROUP BY ALL
