"""The reference CRM on both sides of the migration: a system under test, not part of the harness.

`sandbox.monolith` is the legacy PHP-style API over the legacy schema (the primary);
`sandbox.services` is the new REST + GraphQL service over the new schema (the candidate), with
switchable regressions. Both run over SQLite, or MariaDB and PostgreSQL respectively, and start
with `python -m sandbox up`. The contract (routes, formats, errors, switches, schemas) is in
`sandbox/README.md`. This package never imports the harness; the harness reaches it only over
HTTP and SQL.
"""
