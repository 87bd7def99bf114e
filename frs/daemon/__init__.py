"""The daemon: one active scheduler (elected by a lease row in the database), the deadline
collections, and the jobs plugins contribute through ``register_jobs``.

- :mod:`frs.daemon.lease`: the ``daemon_lease`` row that elects the active daemon;
- :mod:`frs.daemon.runner`: :class:`Daemon` (foreground loop and ``--once``);
- :mod:`frs.daemon.logs`: one structured line per job run, text or JSON.
"""

from .lease import Lease
from .runner import Daemon

__all__ = ["Daemon", "Lease"]
