"""The ``frs`` command line. Each command group lives in its own module here."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from ..config import ConfigError
from ..plugins import PluginError


class App:
    """Per-invocation state: the config path and a Kernel built on first use."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._kernel = None

    @property
    def kernel(self):
        if self._kernel is None:
            from .. import config
            from ..kernel import Kernel

            self._kernel = Kernel(config.load(self.config_path))
        return self._kernel


pass_app = click.make_pass_decorator(App)


def fail(message: str, code: int = 1) -> None:
    """Print a refusal or error for a person and exit non-zero."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def read_upload(path, limits) -> bytes:
    """A file's bytes, but never more than one byte past the upload limit: the gate then refuses
    it as too large without a huge file ever being held in memory."""
    with open(path, "rb") as handle:
        return handle.read(limits.max_upload_bytes + 1)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class FrsGroup(click.Group):
    """Turns configuration and plugin errors into one clear line and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ConfigError, PluginError) as exc:
            fail(str(exc), 2)


@click.group(cls=FrsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="FRS_CONFIG", type=click.Path(dir_okay=False),
              help="Config file (default: config/frs.toml). Also FRS_CONFIG.")
@click.option("-v", "--verbose", is_flag=True, help="Log plugin loading and other details.")
@click.version_option(package_name="frs")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """frs: results templates, validated uploads and collection for schools.

    Operators list plugins, make templates and validate files here; see each command's --help.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = App(config_path)


from . import plugins_cmd, template_cmd, validate_cmd  # noqa: E402,F401  (register commands)
from . import storage_cmd  # noqa: E402,F401
from . import demo_cmd  # noqa: E402,F401
from . import dx_cmd  # noqa: E402,F401
