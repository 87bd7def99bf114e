"""The conformance kit for key-stage plugins (see docs/plugins.md, "Testing a plugin").

A plugin author's ``tests/test_conformance.py``::

    from frs.testing import get_keystage_test_class

    TestMyKeyStage = get_keystage_test_class("my_keystage")

Pupil sources and Data Exchange partners have their own kit (``get_source_test_class``,
``get_partner_test_class``, with loopback mock partners in :mod:`frs.testing.fake_partners`).

The fixtures for further tests come from the opt-in pytest plugin
``pytest_plugins = ["frs.testing.pytest_plugin"]``.
"""

from .connector_suite import (PARTNER_CHECKS, SOURCE_CHECKS, MockPartner, get_partner_test_class,
                              get_source_test_class)
from .harness import KIT_SCHOOL, KitContext, issue_keys, make_kernel
from .keystage_suite import CHECKS, SuiteConfig, get_keystage_test_class

__all__ = ["CHECKS", "KIT_SCHOOL", "KitContext", "MockPartner", "PARTNER_CHECKS", "SOURCE_CHECKS", "SuiteConfig",
           "get_keystage_test_class", "get_partner_test_class", "get_source_test_class", "issue_keys", "make_kernel"]
