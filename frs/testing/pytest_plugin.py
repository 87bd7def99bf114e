"""The conformance kit's pytest plugin. Opt in from a test module or the root ``conftest.py``::

    pytest_plugins = ["frs.testing.pytest_plugin"]

It is not registered through a ``pytest11`` entry point, so installing frs changes no one
else's test sessions. It gives fixtures for a plugin's own tests beyond the standard suite:

- ``frs_kernel_factory(plugins, **options)``: a fresh Kernel with only those plugins enabled
  (see :func:`frs.testing.make_kernel`);
- ``frs_kit_context(kernel, keystage_id)``: a :class:`frs.testing.KitContext` that makes
  templates, fills them as a school would, edits and validates them;
- ``frs_school``: the made-up school the kit's workbooks are for.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from .. import PLUGIN_API_VERSION, __version__
from ..connectors import School
from ..kernel import Kernel
from .harness import KIT_SCHOOL, KitContext, make_kernel


def pytest_report_header(config) -> str:
    return f"frs {__version__} (plugin API {PLUGIN_API_VERSION}), conformance kit enabled"


@pytest.fixture
def frs_kernel_factory() -> Callable[..., Kernel]:
    """``factory(plugins, *, year=None, rounds=(), settings=None, strict=False) -> Kernel``.

    ``plugins`` is a list of installed plugin names or a ``{name: module}`` mapping of plugin
    objects to register in-process. The blank pupil source is always enabled; key stages with
    no round get a synthetic one for ``year``. Config files and ``FRS_LOAD_PLUGINS`` are ignored.
    """
    return make_kernel


@pytest.fixture
def frs_kit_context() -> Callable[..., KitContext]:
    """``context(kernel, keystage_id, **options) -> KitContext`` (options: pupil_count,
    per_pupil, seed, school)."""
    def context(kernel: Kernel, keystage_id: str, **options: Any) -> KitContext:
        return KitContext(kernel, kernel.keystage(keystage_id), **options)

    return context


@pytest.fixture
def frs_school() -> School:
    return KIT_SCHOOL
