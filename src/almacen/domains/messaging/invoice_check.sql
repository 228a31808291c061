-- What stops month $month from being invoiced, one row per problem (none: invoice.sql may run):
-- `period` no rate card period in force (first_period: the first start); `contract` billable usage of a
-- client with no contract in force; `price` billable usage of a (category, country) the period does not
-- price (with the first client using it); `version` is the rate card's. invoice.py words the errors
-- exactly as its Python twin does.
WITH bounds AS (
    SELECT $month::DATE AS month, $month::DATE::TIMESTAMP AT TIME ZONE 'UTC' AS starts_at,
           ($month::DATE + INTERVAL 1 MONTH)::TIMESTAMP AT TIME ZONE 'UTC' AS ends_at  -- UTC months
), card AS (
    SELECT * FROM silver.rate_cards WHERE version = (SELECT max(version) FROM silver.rate_cards)
), period AS (
    SELECT DISTINCT c.category, c.country
    FROM card c, bounds b
    WHERE c.effective_from <= b.month AND (c.effective_to IS NULL OR c.effective_to > b.month)
), contracted AS (
    SELECT DISTINCT c.client_id
    FROM silver.contracts c, bounds b
    WHERE c.version = (SELECT max(version) FROM silver.contracts)
      AND c.effective_from <= b.month AND (c.effective_to IS NULL OR c.effective_to > b.month)
), quantities AS (
    SELECT u.client_id, u.category, u.country
    FROM gold.usage_minute u, bounds b
    WHERE u.minute >= b.starts_at AND u.minute < b.ends_at
    GROUP BY ALL
    HAVING sum(u.billable) > 0
)
SELECT 'period' AS problem, (SELECT max(version) FROM card)::BIGINT AS version,
       (SELECT min(effective_from) FROM card) AS first_period, NULL::VARCHAR AS client_id,
       NULL::VARCHAR AS category, NULL::VARCHAR AS country
WHERE NOT EXISTS (SELECT 1 FROM period)
UNION ALL
SELECT 'contract', (SELECT max(version) FROM card), NULL, q.client_id, NULL, NULL
FROM (SELECT DISTINCT client_id FROM quantities) q ANTI JOIN contracted c USING (client_id)
UNION ALL
SELECT 'price', (SELECT max(version) FROM card), NULL, min(q.client_id), q.category, q.country
FROM quantities q ANTI JOIN period p USING (category, country)
GROUP BY q.category, q.country
ORDER BY problem, client_id, category, country
