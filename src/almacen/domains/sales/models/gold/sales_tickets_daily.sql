-- access: branch
-- keys: date, branch_id, channel, payment_type, status
-- Sales by business date × branch × channel × payment type × status: tickets counted once whatever
-- their categories, so KPIs and sales by branch, channel or payment type add up over any period.
SELECT date, branch_id, channel, payment_type, status, count(*) AS sales,
       sum(units)::DECIMAL(18,3) AS units, sum(lines_amount)::DECIMAL(18,2) AS amount
FROM gold.fact_sales
GROUP BY ALL
