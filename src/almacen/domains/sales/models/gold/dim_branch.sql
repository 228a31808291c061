-- access: branch
-- keys: branch_id
-- Branches as configured.
SELECT id AS branch_id, name, city, province FROM config.branches
