-- Per configured branch: up to when its data is in (end of the last extracted cut), how far behind `$now` that is,
-- and extraction failures in the last day.
SELECT b.branch_id, b.name,
       max(r.window_end) FILTER (WHERE r.status = 'ok') AS fresh_until,
       date_diff('minute', max(r.window_end) FILTER (WHERE r.status = 'ok'), $now) AS minutes_behind,
       count(r.run_id) FILTER (WHERE r.status <> 'ok' AND r.started_at >= $now - INTERVAL 1 DAY) AS failures_24h,
       max(r.finished_at) AS last_run_at
FROM serving.branches b
LEFT JOIN _system.runs r ON r.branch_id = b.branch_id AND r.job = 'extract'
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], b.branch_id)
GROUP BY b.branch_id, b.name
ORDER BY b.branch_id
