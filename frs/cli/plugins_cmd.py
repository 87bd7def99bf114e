"""``frs plugins``: what is installed, what is enabled, what each plugin contributes."""

from __future__ import annotations

import click

from . import echo_json, main, pass_app


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (name, status, error, hooks, contributes, ...).")
@pass_app
def plugins_command(app, as_json: bool) -> None:
    """List every installed plugin: name, version, status, hooks and contributions.

    Status is "enabled", "disabled" (installed but not in plugins.enabled or FRS_LOAD_PLUGINS;
    never imported) or "failed" (with the reason). The kernel itself is listed as "frs".
    """
    # the kernel ("frs") first, then its built-in parts ("frs.analysis"), then the plugins
    infos = sorted(app.kernel.plugins.values(),
                   key=lambda i: (i.name != "frs", not i.name.startswith("frs."), i.name))
    if as_json:
        echo_json([i.to_dict() for i in infos])
        return
    for info in infos:
        version = f" {info.version}" if info.version else ""
        click.echo(f"{info.name}{version}  [{info.status}]" + (f"  {info.distribution}" if info.distribution else ""))
        if info.error:
            click.echo(f"    error: {info.error}")
        if info.hooks:
            click.echo(f"    hooks: {', '.join(info.hooks)}")
        for kind, items in info.contributes.items():
            shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
            click.echo(f"    {kind}: {shown}")
