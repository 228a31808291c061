-- gold.conversations_monthly: conversations by the UTC month they opened (its first day), client and category.
SELECT date_trunc('month', opened_at AT TIME ZONE 'UTC')::DATE AS month, client_id, category,
       count(*)::BIGINT AS conversations, sum(messages)::BIGINT AS messages
FROM gold.conversations
GROUP BY ALL
ORDER BY month, client_id, category
