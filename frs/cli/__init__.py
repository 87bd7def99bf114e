"""The ``frs`` command line. Each command group lives in its own module here.

Start-up rule (keeps ``frs --help`` and ``frs --version`` instant and ``frs validate`` free of the
database layer): a command module imports only the standard library, click and this package at
module level. Everything else (``frs.kernel``, ``frs.storage``, ``frs.validation``,
``frs.workbook``, and through them sqlalchemy, sqlmodel, openpyxl, xlsxwriter, httpx, pluggy) is
imported inside the command function that needs it. tests/test_readiness_cli.py checks this.

Every failure reaches the operator as one line on stderr and a non-zero exit: commands raise
click errors or call :func:`fail` for the cases they know, and :class:`FrsGroup` turns anything
else into one line (the traceback only with ``-v``).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import click

from .. import __version__


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


def program() -> str:
    """How to run frs again from here, for the commands printed as hints: ``frs`` when that is
    what is on PATH, else the path it was started by (e.g. ``.venv/bin/frs`` before the
    virtual environment is activated)."""
    import shlex
    import shutil

    started = sys.argv[0] if sys.argv else ""
    if Path(started).name != "frs":
        return "frs"
    found = shutil.which("frs")
    if found and Path(found).resolve() == Path(started).resolve():
        return "frs"
    return shlex.quote(started)


def echo_json(data) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


class OutputFile(click.Path):
    """A file the command will write: checked before any work is done, so a typo in a folder
    name is one clear line instead of a traceback after the work (or an audit line claiming a
    download that never reached the disk). ``-`` means standard output when ``allow_dash``."""

    name = "file"

    def __init__(self, allow_dash: bool = False):
        super().__init__(dir_okay=False, allow_dash=allow_dash, path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if self.allow_dash and str(path) == "-":
            return path
        folder = path.parent
        if not folder.exists():
            self.fail(f"the folder {str(folder)!r} does not exist: create it first or choose another path",
                      param, ctx)
        if not folder.is_dir():
            self.fail(f"{str(folder)!r} is a file, not a folder", param, ctx)
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            self.fail(f"cannot write {str(path)!r}: permission denied", param, ctx)
        return path


def write_output(path: Path, data: bytes) -> None:
    """Write an output file, or standard output for ``-``."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        path.write_bytes(data)


#: errors whose message is already written for a person: (module, class, exit status)
KNOWN_ERRORS = (("frs.config", "ConfigError", 2), ("frs.plugins", "PluginError", 2),
                ("frs.storage.db", "DatabaseError", 2), ("frs.kernel", "UnknownKeyStage", 2),
                ("frs.storage.service", "Refused", 1), ("frs.storage.service", "StorageFailed", 2))


def explain(exc: BaseException) -> tuple[str, bool, int]:
    """One line for a person about an error no command handled itself, whether it is unexpected
    (then ``-v`` shows the traceback worth reporting), and the exit status."""
    # the modules are looked up, not imported: an error of a module never loaded cannot occur
    for module, name, status in KNOWN_ERRORS:
        known = getattr(sys.modules.get(module), name, None)
        if known is not None and isinstance(exc, known):
            return str(exc), False, status
    return (*_unexpected(exc), 2)


def _unexpected(exc: BaseException) -> tuple[str, bool]:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError):
        from ..storage.db import database_problem

        return database_problem(exc), True
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}", True
    if isinstance(exc, MemoryError):
        return "out of memory", True
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"unexpected {type(exc).__name__}" + (f": {first_line}" if first_line else ""), True


class FrsGroup(click.Group):
    """The last-resort handler for every command, including those added later: any exception a
    command did not handle becomes one line on stderr (with a pointer to ``-v``) and exit status 2;
    with ``-v`` the traceback is printed first, for a bug report."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `frs ... | head`: click exits quietly
                raise
            self._report(ctx, exc)
        except Exception as exc:
            self._report(ctx, exc)

    @staticmethod
    def _report(ctx: click.Context, exc: Exception) -> None:
        verbose = bool(ctx.params.get("verbose"))
        message, unexpected, status = explain(exc)
        if verbose and unexpected:
            import traceback

            traceback.print_exc(file=sys.stderr)
        hint = " (run `frs -v ...` for details)" if unexpected and not verbose else ""
        fail(message + hint, status)


@click.group(cls=FrsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="FRS_CONFIG", type=click.Path(dir_okay=False),
              help="Config file (default: config/frs.toml). Also FRS_CONFIG.")
@click.option("-v", "--verbose", is_flag=True, help="Log plugin loading and other details; show tracebacks.")
@click.version_option(__version__, package_name="frs", prog_name="frs")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """frs: results templates, validated uploads and collection for schools.

    Operators list plugins, make templates and validate files here; see each command's --help.
    """
    import logging  # here, not at the top: --help and --version never get this far

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = App(config_path)


from . import plugins_cmd, template_cmd, validate_cmd  # noqa: E402,F401  (register commands)
from . import storage_cmd  # noqa: E402,F401
from . import demo_cmd  # noqa: E402,F401
from . import dx_cmd  # noqa: E402,F401
from . import web_cmd  # noqa: E402,F401
from . import daemon_cmd, report_cmd  # noqa: E402,F401
from . import analysis_cmd  # noqa: E402,F401
