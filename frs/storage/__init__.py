"""Storage: the database (SQLModel on SQLite or PostgreSQL), the content-addressed file store, and
the service layer that the command line and the web share.

- :mod:`frs.storage.models`: the tables and the upload statuses;
- :mod:`frs.storage.db`: engine, sessions, schema creation;
- :mod:`frs.storage.files`: the atomic, content-addressed file store;
- :mod:`frs.storage.service`: every action, permission-checked and audited.
"""

from .service import OPERATOR, Refused, Service, StorageFailed

__all__ = ["OPERATOR", "Refused", "Service", "StorageFailed"]
