"""The PostgreSQL connection pool: a pooled connection the server has dropped (restart, idle
timeout, firewall) is replaced before use, so the request that picks it up does not fail."""

from __future__ import annotations

import pytest
from conftest import _postgres_admin
from sqlalchemy import text

from frs.storage import db


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_connection_dropped_by_the_server_while_pooled_is_replaced_unnoticed(db_url, monkeypatch):
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with _postgres_admin() as admin:  # the server ends the pooled connection's process
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle "long enough"
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
        assert engine.pool.size() == db.PG_POOL_SIZE
    finally:
        engine.dispose()
