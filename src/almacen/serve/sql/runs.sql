-- The latest job runs, newest first; a branch manager sees only runs of its branches.
SELECT run_id, job, branch_id, window_start, window_end, rows_read, rows_written, rows_quarantined,
       started_at, finished_at, status, error
FROM _system.runs
WHERE $branches::VARCHAR[] IS NULL OR list_contains($branches::VARCHAR[], branch_id)
ORDER BY started_at DESC
LIMIT 200
