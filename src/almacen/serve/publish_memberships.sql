-- The almacen groups (the reader, all branches, all clients, admin, one per branch or client) each of the given
-- roles is a direct member of.
SELECT m.rolname AS member, g.rolname AS grp
FROM pg_auth_members am
JOIN pg_roles g ON g.oid = am.roleid
JOIN pg_roles m ON m.oid = am.member
WHERE m.rolname = ANY(%(members)s)
  AND (g.rolname = ANY(%(groups)s) OR starts_with(g.rolname, %(branch_prefix)s) OR starts_with(g.rolname, %(client_prefix)s))
