"""Storage: the database (SQLModel on SQLite or PostgreSQL), the content-addressed file store, and
the service layer that the command line and the web share.

- :mod:`frs.storage.models`: the tables and the upload statuses;
- :mod:`frs.storage.db`: engine, sessions, schema creation;
- :mod:`frs.storage.files`: the atomic, content-addressed file store;
- :mod:`frs.storage.service`: every action, permission-checked and audited.
"""

__all__ = ["OPERATOR", "Refused", "Service", "StorageFailed"]


def __getattr__(name: str):
    # Loaded on first use: importing frs.storage.names (or this package) must not pull in
    # SQLAlchemy, so commands that never touch the database start at once.
    if name in __all__:
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
