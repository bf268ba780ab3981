"""Alembic environment: runs migrations online against the URL `taskctl migrate` passes in."""

import sqlalchemy as sa
from alembic import context

from db.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through `taskctl migrate`")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection, connection.begin():
        # Two `taskctl migrate` runs at once (two hosts starting) must not both apply a revision;
        # the lock lives until this outer transaction commits.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
