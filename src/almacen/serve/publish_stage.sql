-- A fresh staging schema beside the published one, and the bookkeeping tables BI roles and the next publish read.
-- Everything here runs inside the publish transaction: a failure leaves no trace of it.
DROP SCHEMA IF EXISTS {staging} CASCADE;
CREATE SCHEMA {staging};
-- which role sees which branch: the row-level policies look a reader's branches up here
CREATE TABLE {staging}._branch_roles (branch_id text PRIMARY KEY, role_name text NOT NULL UNIQUE);
-- what this publish copied, for BI users checking how fresh the data is
CREATE TABLE {staging}._publication (table_name text PRIMARY KEY, row_count bigint NOT NULL, published_at timestamptz NOT NULL);
-- the almacen users given a role by this publish: the next publish revokes the groups of those gone
CREATE TABLE {staging}._users (username text PRIMARY KEY, role_name text NOT NULL UNIQUE, app_role text NOT NULL, branches text[] NOT NULL);
