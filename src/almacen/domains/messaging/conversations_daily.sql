-- gold.conversations_daily: conversations by the UTC day they opened, client and category, with their messages.
SELECT (opened_at AT TIME ZONE 'UTC')::DATE AS day, client_id, category,
       count(*)::BIGINT AS conversations, sum(messages)::BIGINT AS messages
FROM gold.conversations
GROUP BY ALL
ORDER BY day, client_id, category
