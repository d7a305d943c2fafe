"""SQLAlchemy storage: tables, the process store with versioned rows, the history chain, deadlines and outbox.
SQLite (WAL) and PostgreSQL behind one interface; the schema is managed by Alembic migrations."""
