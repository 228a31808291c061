-- Row-level security on a table with branch_id: a role sees a row only if it is a member of the
-- all-branches role or of that branch's role. FORCE applies it to the table owner too.
-- Both role checks sit in uncorrelated subqueries, so PostgreSQL evaluates each once per query
-- (an InitPlan and a hashed SubPlan), not once per row.
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY branch_scope ON {table} FOR SELECT USING (
    (SELECT pg_has_role(current_user, {all_branches}, 'MEMBER'))
    OR branch_id IN (SELECT r.branch_id FROM {branch_roles} r WHERE pg_has_role(current_user, r.role_name, 'MEMBER'))
);
