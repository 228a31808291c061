-- SELECT on the tables of one access scope for the groups of that scope (a row-scoped table's policy then cuts its rows).
GRANT SELECT ON TABLE {tables} TO {roles};
