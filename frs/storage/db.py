"""The database engine and sessions, for SQLite (default) and PostgreSQL.

SQLite is set up for safety over speed (security-notes 5.2): WAL with ``synchronous=FULL`` so an
accepted upload survives power loss, ``busy_timeout`` so the web and the daemon wait rather than
fail, ``foreign_keys`` and ``secure_delete`` so deleted rows are overwritten. Write sessions on
SQLite begin with ``BEGIN IMMEDIATE``: they take the write lock first, so two writers queue on
``busy_timeout`` instead of one failing when it upgrades a read lock.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from . import models_dx  # noqa: F401  (Data Exchange connections, pulls and cohorts)
from . import models_web  # noqa: F401  (web sign-in and API token tables)
from . import models_collect  # noqa: F401  (collection and daemon tables)
from . import models_analysis  # noqa: F401

BUSY_TIMEOUT_MS = 15_000
PG_POOL_SIZE = 12  # connections each process keeps open to PostgreSQL
PING_AFTER_IDLE_SECONDS = 1.0  # a pooled connection idle longer is checked before use
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={BUSY_TIMEOUT_MS}",
                  "foreign_keys=ON", "secure_delete=ON")


#: database kinds frs is built and tested on
SUPPORTED = ("sqlite", "postgresql")
EXAMPLES = "sqlite:////path/to/frs.db or postgresql+psycopg://user@host:5432/frs"
WHERE = "FRS_DATABASE_URL or [service] database_url in the config"


class DatabaseError(Exception):
    """The database URL is wrong or of a kind frs does not support, or the database cannot be
    reached or used. The message names the database without its password."""


class DatabaseNotReady(DatabaseError):
    """The database has no frs tables yet."""


def database_url(config) -> str:
    """``FRS_DATABASE_URL`` / ``service.database_url``, else SQLite in the instance folder."""
    if config.database_url:
        return config.database_url
    return f"sqlite:///{Path(config.home).resolve() / 'frs.db'}"


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def problem(exc: BaseException) -> str:
    """The first line of the driver's own message (no SQL, no parameters), for operators."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    return text[:300]


def database_problem(exc: BaseException) -> str:
    return f"the database failed: {problem(exc)}"


def make_engine(url: str) -> Engine:
    """An engine for a supported database URL; a wrong or unsupported URL raises DatabaseError."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        # not echoed: a mangled URL may still carry a password somewhere
        scheme = url.split("://")[0] if "://" in url and len(url.split("://")[0]) < 30 else ""
        raise DatabaseError(f"the database URL (from {WHERE}) is not a database URL"
                            + (f" (it starts {scheme}://)" if scheme else "") + f"; use e.g. {EXAMPLES}") from None
    backend = parsed.drivername.split("+")[0]
    if backend == "postgres" or parsed.drivername == "postgresql":
        # the common spellings mean the PostgreSQL driver frs installs (psycopg 3)
        parsed = parsed.set(drivername="postgresql+psycopg")
        backend = "postgresql"
    if backend not in SUPPORTED:
        raise DatabaseError(f"the database URL {parsed.render_as_string(hide_password=True)!r} is for "
                            f"{backend!r}, which frs does not support (from {WHERE}); use e.g. {EXAMPLES}")
    try:
        if backend != "sqlite":
            # a web worker runs up to a dozen requests at once, each with a session: a pool that holds
            # that many keeps PostgreSQL from starting (and stopping) a server process per request
            return _ping_when_idle(create_engine(parsed, pool_size=PG_POOL_SIZE, max_overflow=20))
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                     "timeout": BUSY_TIMEOUT_MS / 1000})
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"the database URL {parsed.render_as_string(hide_password=True)!r} needs a driver "
                            f"that is not installed ({problem(exc)}); use e.g. {EXAMPLES}") from None
    except (sa_exc.ArgumentError, TypeError, ValueError) as exc:
        raise DatabaseError(f"the database URL {parsed.render_as_string(hide_password=True)!r} is not usable "
                            f"({problem(exc)}); use e.g. {EXAMPLES}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot create the folder for the database {parsed.database}: "
                            f"{exc.strerror or exc}") from None
    return _sqlite_setup(engine)


def _ping_when_idle(engine: Engine) -> Engine:
    """Check a pooled connection before handing it out, unless it was in use a moment ago.

    A connection that has sat in the pool may have been closed by a database restart or a
    firewall: it is pinged first, and a dead one is replaced without the request noticing (what
    ``pool_pre_ping`` does). One handed back less than PING_AFTER_IDLE_SECONDS ago was working
    then, and a ping on every checkout (several per web request) costs a round trip each, which
    under load means waiting for the database process to be scheduled: those go out unpinged."""
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["frs_returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        returned = record.info.get("frs_returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # just connected, or working a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except dbapi_error as exc:
            raise sa_exc.DisconnectionError(f"stale pooled connection: {problem(exc)}") from exc  # pool reconnects

    return engine


def _sqlite_setup(engine: Engine) -> Engine:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        write = connection.get_execution_options().get("frs_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextlib.contextmanager
def reaching(engine: Engine) -> Iterator[None]:
    """Turn a failure to connect to (or open) the database into one DatabaseError line."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise DatabaseError(f"cannot use the database {describe(str(engine.url))}: {problem(exc)} "
                            f"(check {WHERE}, and that the server is running)") from None


def init_db(engine: Engine) -> list[str]:
    """Create any missing tables (idempotent). Returns the tables that were created."""
    with reaching(engine):
        before = set(inspect(engine).get_table_names())
        SQLModel.metadata.create_all(engine)
    return sorted(set(SQLModel.metadata.tables) - before)


def check_ready(engine: Engine) -> None:
    with reaching(engine):
        tables = set(inspect(engine).get_table_names())
    missing = set(SQLModel.metadata.tables) - tables
    if missing:
        raise DatabaseNotReady(f"the database {describe(str(engine.url))} has no frs tables "
                               f"({', '.join(sorted(missing))} missing): run `frs db init` first")


@contextlib.contextmanager
def session(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session; ``write=True`` takes SQLite's write lock at BEGIN. Commit explicitly; anything
    not committed is rolled back on exit."""
    bind = engine.execution_options(frs_write=True) if write else engine
    with Session(bind, expire_on_commit=False) as s:
        yield s
