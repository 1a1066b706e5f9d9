"""``assay models``: registered models, their versions, aliases, promotion by rule, and deletion.

Model names are unique within a project: wherever a command takes a model's NAME, ``project/name`` names
it in one project, and a plain name that several of your projects hold is refused with the candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from assay.cli import render
from assay.cli.context import registry
from assay.registry.entities import signature_columns
from assay.registry.uris import is_version_text

if TYPE_CHECKING:
    from assay.registry.entities import AliasEvent, ModelVersion

app = typer.Typer(help="Registered models: versions, aliases, promotion.", no_args_is_help=True)

_Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_HELP_NAME = "The model's name, or project/name when several of your projects hold that name."


def _dump(value: Any) -> Any:
    from assay.registry.entities import to_json

    return to_json(value)


def _aliases(names: tuple[str, ...] | list[str]) -> Text:
    text = Text()
    for i, a in enumerate(names):
        text.append((" " if i else "") + f"@{a}", style="bold cyan")
    return text


@app.command("ls")
def ls(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project's models.")] = None,
    as_json: _Json = False,
) -> None:
    """List models: name, project, latest version, number of versions, aliases."""
    models = registry(ctx).list_models(project)
    if as_json:
        render.emit_json([_dump(m) for m in models])
        return
    if not models:
        render.note("no models yet: register one with assay.register_model('runs:/<run_id>/model', 'name')")
        return
    t = render.table("name", "project", "latest", "versions", "aliases", "updated", "description")
    for m in models:
        aliases = _aliases([f"{a}=v{v}" for a, v in m.aliases.items()])
        t.add_row(
            Text(m.name),
            Text(m.project),
            "" if m.latest_version is None else f"v{m.latest_version}",
            str(m.version_count),
            aliases,
            render.fmt_time_ago(m.updated_at),
            Text(m.description[:60]),
        )
    render.console().print(t)


@app.command("versions")
def versions(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help=_HELP_NAME)], as_json: _Json = False
) -> None:
    """List a model's versions, newest first, with their run, flavor, aliases and training metrics."""
    reg = registry(ctx)
    found = reg.list_versions(name)
    if as_json:
        render.emit_json([_dump(v) for v in found])
        return
    t = render.table("version", "aliases", "flavor", "run", "created", "by", "metrics")
    t.columns[0].justify = "right"
    for v in found:
        metrics = reg.version_metrics(name, v.version)
        shown = ", ".join(f"{k}={render.fmt_number(x)}" for k, x in sorted(metrics.items())[:4])
        t.add_row(
            f"v{v.version}",
            _aliases(v.aliases),
            v.flavor,
            (v.run_id or "")[:8],
            render.fmt_time_ago(v.created_at),
            Text(v.created_by),
            Text(shown),
        )
    render.console().print(t)


def _show_version(reg: Any, mv: ModelVersion) -> None:
    con = render.console()
    con.print(Text.assemble((f"{mv.qualified_name} v{mv.version}", "bold"), " ", _aliases(mv.aliases)))
    con.print(f"  source     {mv.source}")
    con.print(f"  flavor     {mv.flavor}")
    con.print(f"  created    {render.fmt_time_ago(mv.created_at)} by {mv.created_by}")
    if mv.description:
        con.print(f"  about      {mv.description}")
    for key, value in sorted(mv.tags.items()):
        con.print(f"  tag        {key}={value}")
    sig = mv.signature or {}
    for part in ("inputs", "outputs"):
        cols = signature_columns(sig.get(part))
        if cols:
            shown = ", ".join(
                f"{c.get('name', '?')}:{c.get('dtype', '?')}{'' if not c.get('shape') else c['shape']}"
                for c in cols[:12]
            )
            con.print(f"  {part:<10} {shown}{' ...' if len(cols) > 12 else ''}")
    lineage = reg.lineage(mv.qualified_name, mv.version)
    con.print(
        f"  run        {lineage.run_id} ({lineage.run_name or '?'}), experiment {lineage.experiment_id}"
    )
    if lineage.git_commit:
        con.print(f"  git        {lineage.git_commit}")
    if lineage.notebook:
        con.print(f"  notebook   {lineage.notebook}")
    for use in lineage.datasets:
        con.print(
            f"  dataset    {use.dataset.name} ({use.context}) {use.dataset.digest} rows={use.dataset.rows}"
        )
    history = reg.performance_history(mv.qualified_name, mv.version)
    if history:
        t = render.table("when", "source", "evaluation", "dataset", "metrics", title="performance history")
        for r in history:
            shown = ", ".join(f"{k}={render.fmt_number(x)}" for k, x in sorted(r.metrics.items())[:5])
            t.add_row(render.fmt_time_ago(r.at), r.source, r.evaluation, r.dataset_name or "", Text(shown))
        con.print(t)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="NAME, NAME/VERSION, NAME@ALIAS or a models:/ URI; NAME may be project/name (a number or "
            "'latest' after a '/' is a version)."
        ),
    ],
    as_json: _Json = False,
) -> None:
    """Show a model (its versions and aliases), or one version: source, signature, lineage, performance
    history and alias audit trail."""
    reg = registry(ctx)
    uri = ref if ref.startswith("models:/") else f"models:/{ref}"
    rest = uri[len("models:/") :].strip("/")
    head, _, last = rest.rpartition("/")
    if "@" not in rest and (
        not head or ("/" not in head and not is_version_text(last))
    ):  # NAME, PROJECT/NAME
        model = reg.get_model(rest)
        if as_json:
            versions = reg.list_versions(model.qualified_name)
            render.emit_json({"model": _dump(model), "versions": [_dump(v) for v in versions]})
            return
        con = render.console()
        con.print(Text(model.name, style="bold"), f"(project {model.project})")
        if model.description:
            con.print(f"  {model.description}")
        for alias, version in model.aliases.items():
            con.print(f"  @{alias} -> v{version}")
        con.print(f"  {model.version_count} versions, latest v{model.latest_version}")
        _print_events(reg.alias_history(model.qualified_name)[:10])
        return
    mv = reg.resolve_uri(uri)
    if as_json:
        lineage = reg.lineage(mv.qualified_name, mv.version)
        history = reg.performance_history(mv.qualified_name, mv.version)
        render.emit_json(
            {"version": _dump(mv), "lineage": _dump(lineage), "performance": [_dump(r) for r in history]}
        )
        return
    _show_version(reg, mv)
    _print_events(
        [e for e in reg.alias_history(mv.qualified_name) if mv.version in (e.from_version, e.to_version)][:10]
    )


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _print_events(events: list[AliasEvent]) -> None:
    if not events:
        return
    t = render.table("when", "alias", "move", "by", "reason", "rule", title="alias audit trail")
    for e in events:
        move = f"{_v(e.from_version)} -> {_v(e.to_version)}"
        if e.refused:
            move += " (refused)"
        t.add_row(
            render.fmt_time_ago(e.at), f"@{e.alias}", move, e.actor, Text(e.reason), Text(e.verdict or "")
        )
    render.console().print(t)


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=_HELP_NAME)],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    version: Annotated[int | None, typer.Argument(help="The version to point it at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why, for the audit trail.")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Move a protected alias onto a version without passed parity.")
    ] = False,
) -> None:
    """Point ALIAS at VERSION (moving it if set), or remove it with --delete; audited either way."""
    reg = registry(ctx)
    if delete:
        event = reg.delete_alias(name, alias, reason)
        render.console().print(Text(f"removed @{alias} from {name} (it pointed at v{event.from_version})"))
        return
    if version is None:
        raise typer.BadParameter("give the VERSION to point the alias at, or --delete", param_hint="VERSION")
    event = reg.set_alias(name, alias, version, reason, force)
    was = f" (was v{event.from_version})" if event.from_version is not None else ""
    render.console().print(Text(f"{name}@{alias} -> v{version}{was}"))


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=_HELP_NAME)],
    version: Annotated[int, typer.Argument(help="The candidate version.")],
    to: Annotated[str, typer.Option("--to", help="The alias to move, e.g. champion.")],
    rule: Annotated[
        str | None,
        typer.Option(
            "--rule",
            help='e.g. "metrics.auc >= champion.metrics.auc + 0.005" (default: the '
            "project's rule for the alias)",
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why, for the audit trail.")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Override a protected alias's parity gate (needs -m).")
    ] = False,
) -> None:
    """Move alias --to to VERSION if the rule holds; exit 1 with both values when it does not. The
    decision is recorded in the audit trail either way."""
    result = registry(ctx).promote(name, version, to, rule, reason, force)
    render.console().print(Text(f"{name}@{to} -> v{version}: {result.verdict}"))


@app.command("policy")
def policy(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    project: Annotated[str, typer.Option("--project", help="The project.")] = "default",
    protected: Annotated[bool, typer.Option("--protected/--unprotected", help="Only owners move it.")] = True,
    rule: Annotated[str | None, typer.Option("--rule", help="The default promotion rule.")] = None,
) -> None:
    """Set a project's policy for an alias: protected (owners only) and its default promotion rule."""
    p = registry(ctx).set_alias_policy(project, alias, protected, rule)
    render.note(
        f"@{p.alias} in {p.project}: {'protected' if p.protected else 'unprotected'}"
        f"{', rule ' + repr(p.rule) if p.rule else ''}"
    )


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=_HELP_NAME)],
    version: Annotated[int | None, typer.Argument(help="Only this version.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a version, or the whole model with its versions and aliases. Numbers are never reused."""
    what = f"{name} v{version}" if version is not None else f"model {name} and all its versions"
    if not yes and not typer.confirm(f"delete {what}?"):
        raise typer.Exit(1)
    reg = registry(ctx)
    if version is None:
        reg.delete_model(name)
    else:
        reg.delete_version(name, version)
    render.note(f"deleted {what}")
