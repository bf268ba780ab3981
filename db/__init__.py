"""Database layer: models, engines, queries and migrations. Imports nothing from the project."""
