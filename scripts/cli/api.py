"""HTTP API commands: ``tagger tokens create/list/revoke`` and ``tagger webhooks
add/list/remove/log`` (admin work done at the server's shell)."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.console import Console

from db.tables import TokenScope, WebhookEvent
from scripts.cli import print_table, when
from scripts.cli.data import open_database

console = Console(soft_wrap=True)
SECRET_BYTES = 32

tokens_app = typer.Typer(help="HTTP API tokens (shown once, stored hashed).", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook subscribers and their delivery log.", no_args_is_help=True)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="A name for the token (what revoke takes).")],
    user: Annotated[str, typer.Option(help="The account the token acts as.")],
    scope: Annotated[
        TokenScope, typer.Option(help="read; write (upload, labels); admin (train).")
    ] = TokenScope.READ,
) -> None:
    """Create a token and print its secret once."""
    from core import tokens

    issued = tokens.create_token(open_database(), name=name, username=user, scope=scope.value)
    console.print(
        f"token {name!r} ({scope.value}, acting as {user!r}): {issued.secret}\n"
        "shown once, only its hash is stored; send it as 'Authorization: Bearer <token>'",
        highlight=False,
    )


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    from db.queries import tokens as tokens_q
    from db.queries import users as users_q

    with open_database().session() as session:
        rows = tokens_q.list_tokens(session)
        names = {u.id: u.username for u in users_q.list_users(session)}
    print_table(
        ("name", "account", "scope", "starts with", "created", "last used", "revoked"),
        (
            (
                t.name,
                names.get(t.user_id, f"#{t.user_id}"),
                t.scope,
                t.prefix + "…",
                when(t.created_at),
                when(t.last_used_at),
                when(t.revoked_at),
            )
            for t in rows
        ),
    )


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token (servers stop accepting it within TAGGER_API_TOKEN_CACHE_S seconds)."""
    from core import tokens

    tokens.revoke_token(open_database(), name=name)
    console.print(f"revoked {name!r}")


@webhooks_app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives the POSTs.")],
    secret: Annotated[
        str | None, typer.Option(help="HMAC key shared with the receiver; generated if omitted.")
    ] = None,
    event: Annotated[
        list[WebhookEvent] | None, typer.Option(help="Only these events (repeat); default all.")
    ] = None,
) -> None:
    """Add a subscriber; prints the signing secret."""
    from core.webhooks import add_subscriber

    key = secret or secrets.token_urlsafe(SECRET_BYTES)
    subscriber = add_subscriber(
        open_database(), url=url, secret=key, events=[e.value for e in event or []]
    )
    console.print(
        f"webhook {subscriber.id} -> {url} ({subscriber.events or 'all events'}); "
        f"signing secret: {key}",
        highlight=False,
    )


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List subscribers."""
    from db.queries import webhooks as webhooks_q

    with open_database().session() as session:
        rows = webhooks_q.list_subscribers(session)
    print_table(
        ("id", "url", "events", "created", "active"),
        (
            (
                str(s.id),
                s.url,
                s.events or "all",
                when(s.created_at),
                "yes" if s.active else "removed",
            )
            for s in rows
        ),
    )


@webhooks_app.command("remove")
def webhooks_remove(subscriber_id: Annotated[int, typer.Argument()]) -> None:
    """Stop sending to a subscriber (its delivery log is kept)."""
    from core.webhooks import remove_subscriber

    remove_subscriber(open_database(), subscriber_id=subscriber_id)
    console.print(f"removed webhook {subscriber_id}")


@webhooks_app.command("log")
def webhooks_log(
    limit: Annotated[int, typer.Option(min=1, help="Newest deliveries shown.")] = 30,
) -> None:
    """The delivery log: each event, its attempts and the last answer."""
    from db.queries import webhooks as webhooks_q

    with open_database().session() as session:
        rows = webhooks_q.list_deliveries(session, limit=limit)
    print_table(
        ("id", "webhook", "event", "video", "status", "attempts", "last answer", "created"),
        (
            (
                str(d.id),
                str(d.subscriber_id),
                d.event,
                str(d.video_id or ""),
                d.status,
                str(d.attempts),
                d.last_error or (str(d.last_status_code) if d.last_status_code else ""),
                when(d.created_at, "%Y-%m-%d %H:%M:%S"),
            )
            for d in rows
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(webhooks_app, name="webhooks")
