"""Team mode commands: ``assay admin`` (users), ``assay token`` (API tokens), ``assay projects``,
``assay passwd``, ``assay whoami``.

They act on the tracking URI like every command: on a server (``http://...``) as the owner of
``$ASSAY_TRACKING_TOKEN``; on a store (a SQLite path or postgresql:// URL, or ``--store``) directly, as the
local admin, which is how the first admin is created. A new token's secret is printed alone on stdout
(``TOKEN=$(assay token create)`` works); everything else goes to stderr. Passwords are prompted for (twice,
unechoed), or read from stdin with ``--password-stdin``; never taken as an argument, which would show in
the process list and the shell's history.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import render
from assay.cli.context import CliState

if TYPE_CHECKING:
    from assay.access import NewToken
    from assay.services.access import Access

admin_app = typer.Typer(help="Manage users (admins; on a store directly with --store).", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke your API tokens.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and their members' roles.", no_args_is_help=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URI",
        help="Act on this store directly (SQLite path or postgresql:// URL) as its local admin.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts)."),
]


def access(ctx: typer.Context, store: str | None = None) -> Access:
    from assay.bundle import get_access

    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    return get_access(store or state.tracking_uri)


def _print_secret(made: NewToken, who: str) -> None:
    render.console(stderr=True).print(
        f"token {made.token.token_id} ({made.token.name!r}) for {who}; it is shown once, keep it secret:"
    )
    typer.echo(made.secret)


def _token_json(t: Any) -> dict[str, Any]:
    return {
        "token_id": t.token_id,
        "user": t.user,
        "name": t.name,
        "created_at": t.created_at,
        "revoked_at": t.revoked_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "read_only": t.read_only,
        "project": t.project,
    }


def _scope(t: Any) -> str:
    parts = (["read-only"] if t.read_only else []) + ([f"project {t.project}"] if t.project else [])
    return ", ".join(parts) or "full"


def read_new_password(from_stdin: bool, what: str = "password") -> str:
    """A new password: stdin's first line, or prompted twice without echo (they must match)."""
    from assay.errors import InvalidInput

    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidInput(
                "--password-stdin read nothing: pipe the password in, e.g. `... < password.txt`"
            )
        return line
    first = typer.prompt(f"new {what}", hide_input=True, err=True)
    if first != typer.prompt(f"new {what} again", hide_input=True, err=True):
        raise InvalidInput("the two passwords differ: run the command again")
    return str(first)


# ---- assay admin -------------------------------------------------------------------------------------------


@admin_app.command("create-user")
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, '.', '_', '@', '-').")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Also set a password to sign in to the web UI (prompted).")
    ] = False,
    password_stdin: StdinOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create a user (with a password for the web UI, if asked) and print their first API token."""
    secret = read_new_password(password_stdin) if password or password_stdin else None
    made = access(ctx, store).create_user(name, admin, secret)
    _print_secret(made, f"{'admin ' if admin else ''}user {name!r}")


@admin_app.command("users")
def users(ctx: typer.Context, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List users."""
    found = access(ctx, store).list_users()
    if as_json:
        render.emit_json(
            [{"name": u.name, "is_admin": u.is_admin, "created_at": u.created_at} for u in found]
        )
        return
    t = render.table("name", "admin", "created")
    for u in found:
        t.add_row(u.name, "yes" if u.is_admin else "", render.fmt_datetime(u.created_at))
    render.console().print(t)


# ---- assay token -------------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for (e.g. laptop, ci).")] = "default",
    user: Annotated[str | None, typer.Option("--user", help="Another user (admins only).")] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            metavar="LIFETIME",
            help="How long it works: 90d, 30d, 12h, or never (default: the server's maximum, else never).",
            show_default=False,
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="It only reads: at most viewer in every project.")
    ] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="It holds roles in this project only.", show_default=False)
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Create an API token and print it (once)."""
    made = access(ctx, store).create_token(name, user, expires, read_only, project)
    _print_secret(made, f"user {made.token.user!r}")


@token_app.command("ls")
def token_ls(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Another user's tokens (admins only).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List your tokens (never their secrets), revoked and expired ones included."""
    found = access(ctx, store).list_tokens(user)
    if as_json:
        render.emit_json([_token_json(t) for t in found])
        return
    t = render.table("id", "user", "name", "created", "last used", "expires", "scope", "revoked")
    for tok in found:
        t.add_row(
            tok.token_id,
            tok.user,
            tok.name,
            render.fmt_datetime(tok.created_at),
            render.fmt_datetime(tok.last_used_at) if tok.last_used_at else "never",
            render.fmt_datetime(tok.expires_at) if tok.expires_at else "never",
            _scope(tok),
            render.fmt_datetime(tok.revoked_at) if tok.revoked_at else "",
        )
    render.console().print(t)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[
        str | None, typer.Argument(help="The token's id, from `assay token ls`.", show_default=False)
    ] = None,
    revoke_all: Annotated[
        bool, typer.Option("--all", help="Revoke every token of yours (or of --user).")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="With --all: another user's (admins only).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Revoke a token, or all of a user's with --all: they stop working at once."""
    from assay.errors import InvalidInput

    if revoke_all == (token_id is not None):
        raise InvalidInput("name one token to revoke, or pass --all (and optionally --user NAME), not both")
    if user is not None and not revoke_all:
        raise InvalidInput("--user goes with --all; a single token is named by its id alone")
    if revoke_all:
        n = access(ctx, store).revoke_tokens(user)
        render.note(
            f"revoked {n} token{'s' if n != 1 else ''} of {'user ' + repr(user) if user else 'yours'}"
        )
        return
    assert token_id is not None
    tok = access(ctx, store).revoke_token(token_id)
    render.note(f"revoked token {tok.token_id} ({tok.name!r}) of user {tok.user!r}")


# ---- assay passwd ------------------------------------------------------------------------------------------


def passwd(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", help="Reset another user's password (admins only).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read from stdin: the new password; for your own, first the current one (an empty line "
            "if you have none), then the new one.",
        ),
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Change your password for the web UI (or, as an admin, reset another user's); every browser session
    of that user ends."""
    from assay.errors import InvalidInput

    acting = access(ctx, store)
    current = None
    if user is None:
        if acting.whoami().user_id == 0:
            raise InvalidInput("on a store you act as its local admin: name the user with --user NAME")
        if password_stdin:
            current = sys.stdin.readline().rstrip("\r\n") or None
        else:
            current = typer.prompt(
                "current password (empty if you have none)",
                default="",
                hide_input=True,
                show_default=False,
                err=True,
            )
            current = current or None
    acting.set_password(read_new_password(password_stdin), user, current)
    whose = f"the password of user {user!r}" if user else "your password"
    render.note(f"{whose} changed; every browser session of that user ended")


# ---- assay projects ----------------------------------------------------------------------------------------


@projects_app.command("ls")
def projects_ls(ctx: typer.Context, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the projects you hold a role in (all of them, for an admin)."""
    found = access(ctx, store).list_projects()
    if as_json:
        render.emit_json(
            [
                {"name": p.name, "role": p.role.value if p.role else None, "created_at": p.created_at}
                for p in found
            ]
        )
        return
    t = render.table("project", "your role", "created")
    for p in found:
        t.add_row(p.name, p.role.value if p.role else "(admin)", render.fmt_datetime(p.created_at))
    render.console().print(t)


@projects_app.command("create")
def projects_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project's name.")],
    store: StoreOpt = None,
) -> None:
    """Create a project; you become its owner."""
    p = access(ctx, store).create_project(name)
    render.note(f"created project {p.name!r}")


@projects_app.command("members")
def projects_members(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The project's name.")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a project's members and their roles."""
    found = access(ctx, store).members(project)
    if as_json:
        render.emit_json([{"user": m.user, "role": m.role.value} for m in found])
        return
    t = render.table("user", "role")
    for m in found:
        t.add_row(m.user, m.role.value)
    render.console().print(t)


@projects_app.command("add-member")
def projects_add_member(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The project's name.")],
    user: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, editor or owner.")] = "viewer",
    store: StoreOpt = None,
) -> None:
    """Give a user a role in a project (replacing the one they had). Owners only."""
    from assay.access import Role
    from assay.errors import InvalidInput

    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of viewer, editor, owner") from None
    m = access(ctx, store).set_member(project, user, wanted)
    render.note(f"{m.user!r} is now {m.role.value} in project {project!r}")


@projects_app.command("remove-member")
def projects_remove_member(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The project's name.")],
    user: Annotated[str, typer.Argument(help="The user's name.")],
    store: StoreOpt = None,
) -> None:
    """Take a user's role in a project away. Owners only."""
    access(ctx, store).remove_member(project, user)
    render.note(f"{user!r} is no longer a member of project {project!r}")


def whoami(ctx: typer.Context) -> None:
    """Print the user the tracking URI's token belongs to."""
    u = access(ctx).whoami()
    typer.echo(f"{u.name}{' (admin)' if u.is_admin else ''}")
