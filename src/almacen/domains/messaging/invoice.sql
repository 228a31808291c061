-- gold.invoices of month $month (date, its first day) for every client with a contract in force, each
-- with its gold.invoice_lines as the list `lines` (invoice.py splits them). Inputs: gold.usage_minute,
-- silver.rate_cards and silver.contracts, the highest version of each. $created_at: timestamptz or null.
-- invoice_check.sql must have passed: here usage without a contract or a price is simply not billed.
WITH bounds AS (
    SELECT $month::DATE AS month, $month::DATE::TIMESTAMP AT TIME ZONE 'UTC' AS starts_at,
           ($month::DATE + INTERVAL 1 MONTH)::TIMESTAMP AT TIME ZONE 'UTC' AS ends_at  -- UTC months
), card AS (
    SELECT * FROM silver.rate_cards WHERE version = (SELECT max(version) FROM silver.rate_cards)
), tiers AS (
    -- the period in force on the month's first day; a tier ends where the next one starts
    SELECT c.category, c.country, c.tier, c.tier_from, c.unit_price,
           lead(c.tier_from) OVER (PARTITION BY c.category, c.country ORDER BY c.tier) AS tier_to
    FROM card c, bounds b
    WHERE c.effective_from <= b.month AND (c.effective_to IS NULL OR c.effective_to > b.month)
), contracts AS (
    SELECT c.client_id, c.version, c.free_messages, c.discount_pct
    FROM silver.contracts c, bounds b
    WHERE c.version = (SELECT max(version) FROM silver.contracts)
      AND c.effective_from <= b.month AND (c.effective_to IS NULL OR c.effective_to > b.month)
), quantities AS (
    -- billable (delivered) templates by the month they were sent in
    SELECT u.client_id, u.category, u.country, sum(u.billable)::BIGINT AS quantity
    FROM gold.usage_minute u, bounds b
    WHERE u.minute >= b.starts_at AND u.minute < b.ends_at
    GROUP BY ALL
    HAVING sum(u.billable) > 0
), tiered AS (
    -- graduated: tier i holds min(q, from_{i+1}) - from_i units, only tiers the quantity reaches
    SELECT q.client_id, q.category, q.country, t.tier, t.tier_from, t.unit_price,
           least(q.quantity, coalesce(t.tier_to, q.quantity)) - t.tier_from AS quantity
    FROM quantities q JOIN tiers t ON t.category = q.category AND t.country = q.country
    WHERE q.quantity > t.tier_from
), numbered AS (
    SELECT *, row_number() OVER w AS line_no,
           coalesce(sum(quantity) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM tiered
    WINDOW w AS (PARTITION BY client_id ORDER BY category, country, tier)
), freed AS (
    -- the free allowance is consumed in line order: what the earlier lines left of it
    SELECT n.*, least(n.quantity, greatest(c.free_messages - n.before, 0))::BIGINT AS free_quantity
    FROM numbered n JOIN contracts c USING (client_id)
), priced AS (
    SELECT *, round((quantity - free_quantity) * unit_price, 2)::DECIMAL(18,2) AS amount FROM freed
), invoiced AS (
    SELECT client_id, sum(amount) AS subtotal,
           list({'invoice_id': 'INV-' || strftime(b.month, '%Y-%m') || '-' || client_id,
                 'line_no': line_no::INTEGER, 'client_id': client_id, 'month': b.month,
                 'category': category, 'country': country, 'tier': tier::INTEGER,
                 'tier_from': tier_from::BIGINT, 'unit_price': unit_price::DECIMAL(18,6),
                 'quantity': quantity::BIGINT, 'free_quantity': free_quantity, 'amount': amount,
                 'rate_card_version': (SELECT max(version) FROM card)::BIGINT} ORDER BY line_no) AS lines
    FROM priced, bounds b
    GROUP BY client_id
), totals AS (
    SELECT c.client_id, c.version, coalesce(i.subtotal, 0)::DECIMAL(18,2) AS subtotal,
           round(coalesce(i.subtotal, 0)::DECIMAL(38,2) * c.discount_pct * 0.01, 2)::DECIMAL(18,2) AS discount,
           i.lines
    FROM contracts c LEFT JOIN invoiced i USING (client_id)
)
SELECT 'INV-' || strftime(b.month, '%Y-%m') || '-' || t.client_id AS invoice_id, t.client_id, b.month,
       'invoice' AS kind, NULL::VARCHAR AS "references", 'draft' AS status, false AS provisional,
       (SELECT max(version) FROM card)::BIGINT AS rate_card_version, t.version::BIGINT AS contract_version,
       (SELECT any_value(currency) FROM card) AS currency,
       t.subtotal, t.discount, (t.subtotal - t.discount)::DECIMAL(18,2) AS total,
       $created_at::TIMESTAMPTZ AS created_at, NULL::TIMESTAMPTZ AS issued_at, t.lines
FROM totals t, bounds b
ORDER BY t.client_id
