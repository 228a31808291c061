-- gold.conversations from silver.messages: per (client_id, recipient_key), in order (sent_at, message_id),
-- a message opens a conversation when none is open; one opened at t is open while sent_at < t + 24 h.
-- Considered: every inbound and reply, every template whose final status is not failed.
--
-- The chaining is sequential (the next opener is the first message 24 h after the last opener), so it
-- is done in two steps. One sort of the messages splits each phone's history into bursts, runs of
-- messages less than 24 h apart: a burst's first message always opens a conversation, and a burst
-- spanning less than 24 h is exactly one conversation (the common case). Only in longer bursts is
-- the chain followed, by a recursive CTE over "the first message 24 h later" pointers (an ASOF join),
-- one step per conversation. Times are epoch microseconds (t); g numbers the messages in sort order,
-- so a burst is the range [start_g, end_g] and a conversation's messages are counted by subtraction.
WITH RECURSIVE considered AS (
    SELECT message_id, client_id, recipient_key, kind, category, epoch_us(sent_at::TIMESTAMPTZ) AS t
    FROM silver.messages
    WHERE kind IN ('template', 'inbound', 'reply') AND (kind <> 'template' OR status IS DISTINCT FROM 'failed')
), ordered AS MATERIALIZED (
    SELECT client_id, recipient_key, t, kind, category,
           row_number() OVER o AS g,
           lag(t) OVER o AS prev_t,
           lag(client_id) OVER o IS DISTINCT FROM client_id OR lag(recipient_key) OVER o IS DISTINCT FROM recipient_key
               OR t >= lag(t) OVER o + 86400000000 AS is_start
    FROM considered
    WINDOW o AS (ORDER BY client_id, recipient_key, t, message_id)
), bursts AS MATERIALIZED (
    -- a burst ends just before the next one starts (every phone's first message starts one), and its
    -- last time is that next start's prev_t
    SELECT client_id, recipient_key, g AS start_g, t, kind, category,
           coalesce(lead(g) OVER s - 1, (SELECT max(g) FROM ordered)) AS end_g,
           coalesce(lead(prev_t) OVER s, (SELECT arg_max(t, g) FROM ordered)) AS end_t
    FROM ordered
    WHERE is_start
    WINDOW s AS (ORDER BY g)
), long_bursts AS MATERIALIZED (
    SELECT client_id, recipient_key, start_g, end_g FROM bursts WHERE end_t >= t + 86400000000
), long_messages AS MATERIALIZED (
    SELECT b.start_g, b.end_g, o.g, o.client_id, o.recipient_key, o.t, o.kind, o.category
    FROM ordered o JOIN long_bursts b ON o.client_id = b.client_id AND o.recipient_key = b.recipient_key
                                     AND o.g BETWEEN b.start_g AND b.end_g
), instants AS (
    -- the first message at each time (ties at one time are in message_id order, so the lowest g)
    SELECT start_g, t, min(g) AS g FROM long_messages GROUP BY ALL
), pointers AS MATERIALIZED (
    -- for every message of a long burst: the first message of the burst at least 24 h later
    SELECT m.g, i.g AS next_g
    FROM long_messages m ASOF JOIN instants i ON i.start_g = m.start_g AND i.t >= m.t + 86400000000
), chain AS (
    SELECT start_g, start_g AS g FROM long_bursts
    UNION ALL
    SELECT c.start_g, p.next_g FROM chain c JOIN pointers p USING (g)
), conversations AS (
    SELECT client_id, recipient_key, t, kind, category, end_g - start_g + 1 AS messages
    FROM bursts
    WHERE end_t < t + 86400000000
    UNION ALL
    SELECT m.client_id, m.recipient_key, m.t, m.kind, m.category,
           coalesce(lead(c.g) OVER (PARTITION BY c.start_g ORDER BY c.g), m.end_g + 1) - c.g
    FROM chain c JOIN long_messages m USING (g)
)
SELECT client_id || ':' || recipient_key || ':' || t AS conversation_id, client_id, recipient_key,
       make_timestamptz(t) AS opened_at, make_timestamptz(t + 86400000000) AS closes_at,
       CASE WHEN kind = 'template' THEN category ELSE 'service' END AS category,
       CASE WHEN kind = 'inbound' THEN 'customer' ELSE 'business' END AS opened_by,
       messages::BIGINT AS messages
FROM conversations
ORDER BY conversation_id
