-- The read-only base role reads every published table; the user list stays with the publisher.
GRANT USAGE ON SCHEMA {staging} TO {reader};
GRANT SELECT ON ALL TABLES IN SCHEMA {staging} TO {reader};
REVOKE ALL ON {staging}._users FROM {reader};
