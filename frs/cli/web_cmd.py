"""``frs serve`` (the web portal and API) and the account commands for it:
``frs users set-password``, ``frs users token``, ``frs users tokens``, ``frs users revoke-token``."""

from __future__ import annotations

import os
import sys

import click

from . import echo_json, main, pass_app
from .storage_cmd import _service, refusals, users_group


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (each with its own database connections).")
@click.option("--proxy-headers/--no-proxy-headers", default=False, show_default=True,
              help="Trust X-Forwarded-Proto/For from a reverse proxy on this machine (for HTTPS "
                   "behind nginx or similar: cookies are then marked Secure).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (method, path, status; never a query with pupil data).")
@pass_app
def serve(app, host: str, port: int, workers: int, proxy_headers: bool, access_log: bool) -> None:
    """Start the school portal and the JSON API (/api/v1, OpenAPI at /openapi.json).

    Uses the configuration and database like every other command (FRS_CONFIG, FRS_HOME,
    FRS_DATABASE_URL); creates missing tables first. Stop it with Ctrl+C.
    """
    import uvicorn

    service = _service(app, ready=False)
    service.init_db()
    if app.config_path:  # the workers build their own kernel from the same file
        os.environ["FRS_CONFIG"] = str(app.config_path)
    click.echo(f"frs portal on http://{host}:{port}/ ({workers} worker{'s' if workers > 1 else ''})", err=True)
    uvicorn.run("frs.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=proxy_headers, forwarded_allow_ips="127.0.0.1" if proxy_headers else None,
                access_log=access_log, log_level="info" if access_log else "warning", server_header=False)


@users_group.command("set-password")
@click.argument("email")
@click.option("--operator", is_flag=True, help="An operator account (created if new), not a school user.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@pass_app
@refusals
def set_password(app, email: str, operator: bool, password_stdin: bool) -> None:
    """Set the sign-in password of a school user (added with `frs users add`) or an operator.

    Prompts twice without echo unless --password-stdin. Signs the account out everywhere.
    """
    from ..services import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    principal = accounts.set_password(_service(app), email, password, operator=operator)
    click.echo(f"Password set for {'operator ' if principal.is_operator else ''}{principal.email}.", err=True)


@users_group.command("token")
@click.argument("email")
@click.option("--label", help="A note to tell this token apart later (e.g. 'nightly upload script').")
@pass_app
@refusals
def token(app, email: str, label: str | None) -> None:
    """Make a new API token for the user and print it, alone, on standard output.

    Send it as `Authorization: Bearer <token>`. It is shown once: only its hash is kept.
    """
    from ..services import accounts

    click.echo(accounts.create_token(_service(app), email, label))


@users_group.command("tokens")
@click.option("--user", "email", metavar="EMAIL", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
@refusals
def tokens(app, email: str | None, as_json: bool) -> None:
    """List API tokens: id, user, first characters, label, created, last used, revoked."""
    from ..services import accounts

    rows = accounts.tokens(_service(app), email)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No API tokens.")
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        used = row["last_used_at"].strftime("%Y-%m-%d %H:%M") if row["last_used_at"] else "never"
        click.echo(f"{row['id']:>5}  {state:<8} {row['email']:<40} {row['hint']:<13} last used {used}"
                   + (f"  ({row['label']})" if row["label"] else ""))


@users_group.command("revoke-token")
@click.argument("token_id", type=int)
@pass_app
@refusals
def revoke_token(app, token_id: int) -> None:
    """Revoke an API token by its id (see `frs users tokens`); it stops working at once."""
    from ..services import accounts

    accounts.revoke_token(_service(app), token_id)
    click.echo(f"Token {token_id} revoked.")
