"""Storage adapter: SQLAlchemy 2 Core (async), SQLite by default (WAL), PostgreSQL by URL, Alembic migrations."""
