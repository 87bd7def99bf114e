"""The database engine and sessions, for SQLite (default) and PostgreSQL.

SQLite is set up for safety over speed (security-notes 5.2): WAL with ``synchronous=FULL`` so an
accepted upload survives power loss, ``busy_timeout`` so the web and the daemon wait rather than
fail, ``foreign_keys`` and ``secure_delete`` so deleted rows are overwritten. Write sessions on
SQLite begin with ``BEGIN IMMEDIATE``: they take the write lock first, so two writers queue on
``busy_timeout`` instead of one failing when it upgrades a read lock.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from . import models_dx  # noqa: F401  (Data Exchange connections, pulls and cohorts)

BUSY_TIMEOUT_MS = 15_000
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={BUSY_TIMEOUT_MS}",
                  "foreign_keys=ON", "secure_delete=ON")


class DatabaseNotReady(Exception):
    """The database has no frs tables yet."""


def database_url(config) -> str:
    """``FRS_DATABASE_URL`` / ``service.database_url``, else SQLite in the instance folder."""
    if config.database_url:
        return config.database_url
    return f"sqlite:///{Path(config.home).resolve() / 'frs.db'}"


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})

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


def init_db(engine: Engine) -> list[str]:
    """Create any missing tables (idempotent). Returns the tables that were created."""
    before = set(inspect(engine).get_table_names())
    SQLModel.metadata.create_all(engine)
    return sorted(set(SQLModel.metadata.tables) - before)


def check_ready(engine: Engine) -> None:
    missing = set(SQLModel.metadata.tables) - set(inspect(engine).get_table_names())
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
