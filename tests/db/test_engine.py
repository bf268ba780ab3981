"""Read routing: reads prefer the replica and fall back to the primary when it fails."""

import sqlalchemy as sa

from db.engine import Engines, make_engine
from db.execution import claim_task
from db.ids import uuid7


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


def _plans_of_the_claim(engine: sa.Engine) -> tuple[int, int]:
    """Run the worker's claim ten times on one connection (for ids no row has: nothing
    changes) and return how the server planned its runs: (runs on the one generic plan, runs
    planned for themselves); psycopg prepares the statement at its fifth run."""
    with engine.connect() as conn:
        for _ in range(10):
            assert claim_task(conn, uuid7(), 20.0, "tests") is None
        generic, custom = conn.execute(
            sa.text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'WITH claimed AS%'"
            )
        ).one()
        conn.rollback()
    return int(generic), int(custom)


def test_an_engine_with_generic_plans_plans_the_claim_once_where_the_default_plans_every_run(
    it_database_url,
):
    default = make_engine(it_database_url, pool_size=1, app_name="tests-default-plans")
    generic = make_engine(it_database_url, pool_size=1, app_name="tests", generic_plans=True)
    try:
        generic_runs, custom_runs = _plans_of_the_claim(generic)
        assert generic_runs >= 5 and custom_runs == 0
        # What the option is for: left alone, the server plans the claim anew at every run.
        default_generic, default_custom = _plans_of_the_claim(default)
        assert default_generic == 0 and default_custom >= 5
    finally:
        default.dispose()
        generic.dispose()


def test_an_autocommit_engine_commits_each_statement_on_its_own(engine, it_database_url):
    native = make_engine(it_database_url, pool_size=1, autocommit=True)
    name = f"autocommit_probe_{uuid7().hex[:8]}"
    try:
        with native.connect() as conn:
            conn.execute(sa.text(f"CREATE TABLE {name} (n int)"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (1)"))
            # Still inside the block, no commit: another connection already sees the row.
            with engine.connect() as other:
                assert other.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() == 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        native.dispose()


def test_the_primarys_autocommit_view_is_made_once_and_follows_a_new_primary(
    engine, it_database_url
):
    engines = Engines(primary=engine)
    view = engines.primary_autocommit
    assert engines.primary_autocommit is view
    with view.connect() as conn:
        assert conn.connection.driver_connection.autocommit is True
    replacement = make_engine(it_database_url, pool_size=1)
    try:
        engines.primary = replacement
        assert engines.primary_autocommit is not view
        assert engines.primary_autocommit.pool is replacement.pool
    finally:
        replacement.dispose()
