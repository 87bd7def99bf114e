"""One active daemon across processes and machines: a row in ``daemon_lease``.

The holder renews ``expires_at`` every few seconds; anyone may take the row once it has expired.
The same two conditional UPDATEs work on SQLite and PostgreSQL, so both are covered by one
mechanism. Times are wall-clock UTC (never the service clock, which FRS_NOW may fix), so the
machines' clocks must agree to within a small part of the lease (NTP does far better).

A lease is only an election: whatever must never happen twice (a collection) is also claimed in
the database by the work itself, so even a paused daemon that wakes up after losing its lease
cannot repeat it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..storage.models_collect import DaemonLease

NAME = "scheduler"


def new_daemon_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Lease:
    def __init__(self, service, holder: str, ttl: float = 30.0, name: str = NAME):
        self.service, self.holder, self.ttl, self.name = service, holder, ttl, name

    def acquire(self) -> bool:
        """Take or renew the lease; False when another holder's lease has not expired."""
        now = _now()
        expires = now + dt.timedelta(seconds=self.ttl)
        with self.service._session(write=True) as s:
            renewed = s.execute(update(DaemonLease).where(
                DaemonLease.name == self.name, DaemonLease.holder == self.holder).values(expires_at=expires))
            if renewed.rowcount != 1:
                taken = s.execute(update(DaemonLease).where(
                    DaemonLease.name == self.name, DaemonLease.expires_at < now)
                    .values(holder=self.holder, acquired_at=now, expires_at=expires))
                if taken.rowcount != 1:
                    if s.get(DaemonLease, self.name) is not None:
                        return False  # held by another, not expired
                    s.add(DaemonLease(name=self.name, holder=self.holder, acquired_at=now, expires_at=expires))
            try:
                s.commit()
            except IntegrityError:  # another daemon inserted the first row at the same moment
                s.rollback()
                return False
            return True

    renew = acquire

    def release(self) -> None:
        """Give the lease up at once (clean shutdown), so a standby need not wait for it to expire."""
        with self.service._session(write=True) as s:
            s.execute(update(DaemonLease).where(DaemonLease.name == self.name, DaemonLease.holder == self.holder)
                      .values(expires_at=_now() - dt.timedelta(seconds=1)))
            s.commit()

    def current(self) -> tuple[str, dt.datetime] | None:
        """(holder, expires_at) of the lease as stored, or None."""
        with self.service._session() as s:
            row = s.execute(select(DaemonLease.holder, DaemonLease.expires_at)
                            .where(DaemonLease.name == self.name)).first()
            return (row[0], row[1]) if row else None
