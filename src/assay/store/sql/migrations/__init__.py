"""Alembic migrations of the SQL store; ``upgrade`` brings any store to the current schema."""
