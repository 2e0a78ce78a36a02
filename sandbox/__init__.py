"""The reference CRM on both sides of the migration: a system under test, not part of the harness.

Will hold a legacy-style monolith API and the new services (REST and GraphQL) with switchable
regressions, over SQLite, MariaDB or PostgreSQL. It never imports the harness; the harness reaches
it only over HTTP and SQL.
"""
