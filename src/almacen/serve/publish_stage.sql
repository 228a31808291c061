-- A fresh staging schema beside the published one, and the bookkeeping tables the next publish and the admins read.
-- Everything here runs inside the publish transaction: a failure leaves no trace of it.
DROP SCHEMA IF EXISTS {staging} CASCADE;
CREATE SCHEMA {staging};
-- which role sees which branch, and which client (the policies carry the same mapping written in: readers need neither)
CREATE TABLE {staging}._branch_roles (branch_id text PRIMARY KEY, role_name text NOT NULL UNIQUE);
CREATE TABLE {staging}._client_roles (client_id text PRIMARY KEY, role_name text NOT NULL UNIQUE);
-- what this publish copied, under which access scope: chain-wide row counts, so for the admin group only
CREATE TABLE {staging}._publication (table_name text PRIMARY KEY, access text NOT NULL, row_count bigint NOT NULL, published_at timestamptz NOT NULL);
-- when this publish ran, for every reader's "data as of"
CREATE TABLE {staging}._freshness (published_at timestamptz NOT NULL);
-- the almacen users given a role by this publish: any later publish revokes the groups of those gone
CREATE TABLE {staging}._users (username text PRIMARY KEY, role_name text NOT NULL UNIQUE, app_role text NOT NULL, branches text[] NOT NULL);
