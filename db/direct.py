"""A psycopg connection of its own for the statements a worker runs on every task.

The claim and the completion run once per task each. Through SQLAlchemy Core, a pool checkout
plus the statement's execution context cost 0.4-0.5 ms of CPU per statement, against 0.1-0.15 ms
on the driver's cursor (issue 12's worker profile): half of the worker's own cost per task.
So the worker keeps one connection per process, in autocommit (each statement is a whole
transaction: BEGIN and COMMIT would double the round trips), with every statement prepared
on the server at its first run and planned once (`plan_cache_mode=force_generic_plan`: left
to itself, PostgreSQL plans a statement on the partitioned tables anew at every run, since the
generic plan's estimate counts every partition).

What SQLAlchemy's pool did for these statements is kept by hand: a connection that broke is
closed and the next statement opens a fresh one, and a broken or refused connection is raised
as `DatabaseUnavailableError`, which the worker retries like any database outage.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
import sqlalchemy as sa
from psycopg.pq import ExecStatus, TransactionStatus

from db.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
TUPLES_OK = ExecStatus.TUPLES_OK


def libpq_conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy URL (`postgresql+psycopg://...`)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class DirectConnection:
    """One lazily opened autocommit connection; not thread-safe (a worker process's task thread
    or one API thread uses it)."""

    def __init__(
        self,
        database_url: str,
        *,
        app_name: str,
        connect_timeout_s: int = 5,
        idle_ping_s: float | None = None,
    ) -> None:
        self.conninfo = libpq_conninfo(database_url)
        self.app_name = app_name
        self.connect_timeout_s = connect_timeout_s
        # A connection idle this long is tested before use (SQLAlchemy's pre-ping, but only
        # after idleness: a busy connection is proven by its last statement), so a restart of
        # PostgreSQL costs a caller that cannot retry (the API) no failed request. None: never.
        self.idle_ping_s = idle_ping_s
        self._used_at = 0.0
        self._conn: psycopg.Connection[Row] | None = None
        # One cursor for every statement: making a cursor per statement was 40 % of the
        # driver's CPU per statement (62 against 104 us a claim, measured alone).
        self._cursor: psycopg.Cursor[Row] | None = None

    def _connect(self) -> psycopg.Cursor[Row]:
        cursor = self._cursor
        if cursor is not None and not cursor.connection.closed:
            if self.idle_ping_s is None or time.monotonic() - self._used_at < self.idle_ping_s:
                return cursor
            try:
                cursor.execute("SELECT 1")
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                log.info("direct connection was lost while idle (%s); reconnecting", err)
                self.close()
            else:
                return cursor
        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            # Prepared on the server at the first run, not psycopg's default fifth.
            prepare_threshold=0,
            connect_timeout=self.connect_timeout_s,
            application_name=self.app_name,
            options="-c plan_cache_mode=force_generic_plan",
        )
        self._conn = conn
        self._cursor = conn.cursor()
        return self._cursor

    def fetch_one(self, query: LiteralString, params: Mapping[str, Any]) -> Row | None:
        """Run one statement (a whole transaction) and return its first row, if any."""
        try:
            cursor = self._connect()
            cursor.execute(query, params, prepare=True)
            # The result's status rather than `cursor.description`, which builds a Column
            # object per field on every read: 4 % of a worker child's CPU in a drain (py-spy).
            result = cursor.pgresult
            row = cursor.fetchone() if result is not None and result.status == TUPLES_OK else None
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            # The server went away or the connection broke: whether the statement committed
            # is unknown to us, exactly as with a pooled connection; the caller's retry is
            # fenced. The next statement connects afresh.
            self.close()
            raise DatabaseUnavailableError(str(err).strip() or type(err).__name__) from err
        except BaseException:
            # Anything else (a data error, the soft time limit's exception raised in the middle
            # of a statement) leaves an autocommit connection idle, or not: one that is still
            # busy with the statement would refuse the next, so it is dropped here.
            if self._conn is not None and (
                self._conn.broken or self._conn.info.transaction_status != TransactionStatus.IDLE
            ):
                self.close()
            raise
        self._used_at = time.monotonic()
        return row

    def close(self) -> None:
        """Close the connection (at shutdown, after fork in the parent's copy, or when broken)."""
        conn, self._conn, self._cursor = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error as err:
                log.debug("closing a broken direct connection: %s", err)

    def forget(self) -> None:
        """Drop a connection inherited across fork without touching its socket, which the
        parent still owns (closing it here would end the parent's session)."""
        self._conn = None
        self._cursor = None


Connection = sa.Connection | DirectConnection


def fetch_one(
    conn: Connection, query: LiteralString, params: Mapping[str, Any]
) -> Sequence[Any] | None:
    """Run one statement written for the driver (`%(name)s` placeholders) on either kind of
    connection, so one text serves the worker's direct connection and a SQLAlchemy
    transaction (the takeover in celery_tasks/settle.py, tests); its first row, if any."""
    if isinstance(conn, DirectConnection):
        return conn.fetch_one(query, params)
    result = conn.exec_driver_sql(query, dict(params))
    return result.first() if result.returns_rows else None
