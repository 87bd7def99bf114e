"""Collection rounds as operators and schools see them: dates and whether each is open now.

Kept apart from :mod:`frs.storage.service` so ``frs rounds`` (and any page listing rounds) does not
load the database layer.
"""

from __future__ import annotations

from typing import Any

from .. import clock


def round_states(kernel) -> list[dict[str, Any]]:
    """Every configured round, with its templates and whether it is open now."""
    now = clock.now()
    out = []
    for rnd in sorted(kernel.config.rounds, key=lambda r: (r.key_stage, r.year)):
        titles = [ks.title for ks in kernel.keystages.values() if ks.key_stage == rnd.key_stage]
        out.append({"id": rnd.id, "key_stage": rnd.key_stage, "year": rnd.year, "templates": titles,
                    "opens": rnd.opens.isoformat(), "closes": rnd.closes.isoformat(),
                    "window": rnd.describe_window(), "open": rnd.is_open(now),
                    "reports_due": rnd.reports_due.isoformat() if rnd.reports_due else None})
    return out
