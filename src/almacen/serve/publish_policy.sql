-- Row-level security on a branch- or client-scoped table: a role sees a row only if it is a member of
-- the group for every key ({all_group}: all branches / all clients) or of the role of the row's key.
-- FORCE applies it to the table owner too. The key -> role mapping is written into the policy as a
-- VALUES list of literals (this publish's branches or clients), so a reader needs no access to any
-- bookkeeping table and cannot change the mapping.
-- Both role checks sit in uncorrelated subqueries, so PostgreSQL evaluates each once per query
-- (an InitPlan and a hashed SubPlan), not once per row.
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY {policy} ON {table} FOR SELECT USING (
    (SELECT pg_has_role(current_user, {all_group}, 'MEMBER'))
    OR {column}::text IN (SELECT r.scope_key FROM (VALUES {roles}) AS r (scope_key, role_name)
                          WHERE pg_has_role(current_user, r.role_name, 'MEMBER'))
);
