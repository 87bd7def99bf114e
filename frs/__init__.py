"""frs: the results service. Public API for plugin authors:

- :data:`hookimpl` to mark hook implementations (the hooks are documented in :mod:`frs.hookspecs`);
- :mod:`frs.keystage` (KeyStage, Column, HeaderRow, Choices, ValueSet, Rule, ResultsRule, Table);
- :mod:`frs.connectors` (PupilSource, Pupil, School, Cohort, SourceContext, Setting);
- :mod:`frs.partners` (Partner, PartnerHttp, MisPupil, Page: Data Exchange partners);
- :mod:`frs.issues` (Issue, Report);
- :mod:`frs.catalogue` (read_rows, split_list, parse_points: catalogue data files shipped in a plugin);
- :mod:`frs.measures` (Measure, Indicator: measures over a collected round, hook ``register_measures``);
- :mod:`frs.testing` (the conformance kit).
"""

__version__ = "0.1.0"
#: bumped when a hook is added; hooks are never removed or changed incompatibly
PLUGIN_API_VERSION = 3

__all__ = ["hookimpl", "__version__", "PLUGIN_API_VERSION"]


def __getattr__(name: str):
    # ``frs.hookimpl`` is resolved on first use, so ``import frs`` (and ``frs --help``) does not
    # pay for pluggy; ``from frs import hookimpl`` works exactly as before.
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
