"""The blank-template source: no pupils, so the school types its own cohort in.

Always available and always last in the default choice, so a template can be made for any school.
"""

from __future__ import annotations

from frs import hookimpl
from frs.connectors import Cohort, PupilSource


class BlankSource(PupilSource):
    name = "blank"
    description = "An empty template: the school enters its pupils itself."
    priority = 0

    def fetch_cohort(self, school, nc_year):
        return []

    def cohort(self, school, nc_year, context):
        return Cohort(self.name, [], origin="a blank template; no pupil list is held for this school, so the "
                                            "school enters its pupils")


@hookimpl
def register_connectors(registry, settings):
    registry.add(BlankSource(settings))
