-- The base role every almacen group is a member of may enter the schema. What it may read there is granted
-- table by table, by each table's access scope (publish_select.sql), never on all tables of the schema.
GRANT USAGE ON SCHEMA {staging} TO {reader};
