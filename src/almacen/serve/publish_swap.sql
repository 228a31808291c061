-- The staging schema takes the published one's place; the old one goes. Readers see the switch at commit.
DROP SCHEMA IF EXISTS {schema} CASCADE;
ALTER SCHEMA {staging} RENAME TO {schema};
