"""Read routing: reads prefer the replica and fall back to the primary when it fails."""

import sqlalchemy as sa

from db.engine import Engines, make_engine


def test_read_falls_back_to_primary_when_replica_is_unreachable(engine):
    # Port 1 refuses connections: the replica is "down".
    dead = make_engine("postgresql+psycopg://tasks:tasks@127.0.0.1:1/tasks", pool_size=1)
    engines = Engines(primary=engine, replica=dead)
    first = engines.read(lambda conn: conn.execute(sa.text("SELECT current_database()")).scalar())
    assert first == engine.url.database
    assert engines.replica_down_until > 0
    # While it is marked down, reads go straight to the primary.
    assert engines.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar()) == 1
    dead.dispose()


def test_read_uses_replica_when_it_answers(engine, it_database_url):
    replica = make_engine(it_database_url, pool_size=1, app_name="tests-replica")
    engines = Engines(primary=engine, replica=replica)
    name = engines.read(
        lambda conn: conn.execute(sa.text("SELECT current_setting('application_name')")).scalar()
    )
    assert name == "tests-replica"
    assert engines.replica_down_until == 0.0
    replica.dispose()
