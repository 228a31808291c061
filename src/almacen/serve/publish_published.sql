-- The schemas of this database an almacen publish put in place: each holds the bookkeeping tables `_publication`
-- and `_users` (with its role_name column). Their users are the ones earlier publishes gave groups to.
SELECT n.nspname
FROM pg_namespace n
WHERE n.nspname <> %(staging)s
  AND EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = '_publication' AND c.relkind = 'r')
  AND EXISTS (SELECT FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
              WHERE c.relnamespace = n.oid AND c.relname = '_users' AND c.relkind = 'r'
                AND a.attname = 'role_name' AND NOT a.attisdropped)
ORDER BY 1
