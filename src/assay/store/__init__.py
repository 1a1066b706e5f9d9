"""Storage: the SQL store (SQLite or PostgreSQL) and nothing above it."""
