-- Privileges the staging schema and its tables were created with beyond their owner's (default privileges
-- someone set for the publishing role): each is revoked, so a table is readable exactly as its scope says.
-- table_name NULL: the schema itself; grantee NULL: PUBLIC.
SELECT DISTINCT NULL::text AS table_name, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee
FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
WHERE n.nspname = %(staging)s AND a.grantee <> n.nspowner
UNION
SELECT DISTINCT c.relname, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(staging)s) AND a.grantee <> c.relowner
ORDER BY 1 NULLS FIRST, 2 NULLS FIRST
