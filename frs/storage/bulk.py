"""Many rows into one table inside the caller's transaction, the fastest way each database offers.

An upload stores one row per pupil (450 for a typical sixth form, 2,000 for a big school) and one
per issue. On PostgreSQL they go in with ``COPY ... FROM STDIN`` on the session's own connection:
one statement and one stream instead of a round trip (and a parse, plan and JSON encode through
the ORM's type layer) per row, several times cheaper for the client and the server alike. The
rows are part of the session's transaction, so they commit or roll back with it exactly as an
INSERT would. SQLite (and anything else) gets a core ``INSERT`` with executemany.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from sqlalchemy import JSON, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# JSON as SQLAlchemy's own serialiser would write it, minus the padding spaces
_dumps = json.JSONEncoder(separators=(",", ":")).encode
COPY_FROM_ROWS = 20  # below this, one executemany is as quick and simpler


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, all columns of ``table`` or a subset)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    as_json = [isinstance(column.type, JSON) for column in columns]
    quote = connection.dialect.identifier_preparer.quote
    statement = (f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN")
    dbapi = connection.connection.driver_connection  # the psycopg connection, in this transaction
    try:
        with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
            if any(as_json):
                for row in rows:
                    copy.write_row([_dumps(row[n]) if j else row[n] for n, j in zip(names, as_json)])
            else:
                for row in rows:
                    copy.write_row([row[n] for n in names])
    except dbapi.Error as exc:
        # as SQLAlchemy wraps a failed INSERT: callers show only the driver's first line, never the
        # CONTEXT line in which PostgreSQL quotes the offending row (pupil data)
        raise DBAPIError.instance(statement, None, exc, type(dbapi).Error) from exc
