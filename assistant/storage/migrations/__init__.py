"""Alembic migrations of the storage schema (env.py, versions/); run by `Database.migrate()`."""
