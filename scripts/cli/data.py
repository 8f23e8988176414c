"""Data commands: init, import-taxonomy, import, export, remove, priority, priority-rules, users,
serve.

Light commands: the core modules behind them are imported inside each command (see
scripts/cli/__init__.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.config import get_settings
from db.engine import Database, get_database, init_db
from db.queries import taxonomy as taxonomy_queries
from db.queries import users as user_queries
from db.tables import Role
from scripts.cli import fail, print_table, when

console = Console(soft_wrap=True)
MAX_PROBLEMS_SHOWN = 20


class TaxonomyFormat(StrEnum):
    csv = "csv"
    json = "json"
    iab3 = "iab3"


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


def open_database() -> Database:
    """The configured database with its schema created/upgraded (cheap when up to date)."""
    db = get_database()
    init_db(db)
    return db


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def init() -> None:
    """Create the data folders and the database; load IAB Content Taxonomy 3.0 if no taxonomy
    yet."""
    from core import taxonomy as taxonomy_lib

    settings = get_settings()
    settings.ensure_dirs()
    db = open_database()
    with db.session() as session:
        if taxonomy_queries.count_nodes(session) == 0:
            taxonomy_lib.save_to_db(session, taxonomy_lib.load_iab3())
            console.print(f"loaded {taxonomy_lib.IAB3_NAME}. {taxonomy_lib.IAB_ATTRIBUTION}")
        n = taxonomy_queries.count_nodes(session)
    console.print(f"database ready at {db.url} ({n} tags); data in {settings.data_dir.resolve()}")


def import_taxonomy(
    path: Annotated[
        Path | None, typer.Argument(help="Taxonomy file (not needed for --format iab3).")
    ] = None,
    fmt: Annotated[
        TaxonomyFormat | None,
        typer.Option(
            "--format", help="csv (one column per tier), json, iab3; default: by extension."
        ),
    ] = None,
) -> None:
    """Replace the taxonomy (tags still used by labels cannot be removed)."""
    from core import taxonomy as taxonomy_lib

    if path is None and fmt != TaxonomyFormat.iab3:
        raise fail("give a taxonomy file, or --format iab3 for the bundled IAB 3.0")
    if path is not None and not path.is_file():
        raise fail(f"no such file: {path}")
    taxonomy = taxonomy_lib.load_file(path or Path("iab3"), fmt=fmt.value if fmt else None)
    db = open_database()
    with db.session() as session:
        n = taxonomy_lib.save_to_db(session, taxonomy)
    console.print(f"taxonomy {taxonomy.name!r}: {n} tags, {taxonomy.max_level} levels")


def import_dataset(
    csv_path: Annotated[
        Path, typer.Argument(help="Dataset: video_id,title,description,tags (.csv, .json, .jsonl).")
    ],
    videos: Annotated[
        Path | None, typer.Option("--videos", help="Folder with VIDEO_ID.EXT files.")
    ] = None,
    holdout: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.99, help="Fraction of videos imported without labels (unreviewed)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed choosing the held-out videos.")] = 0,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 if any row had a problem (rows are still imported).")
    ] = False,
) -> None:
    """Import a labelled dataset: videos (status new) and their imported labels."""
    from core import dataset

    db = open_database()
    with _progress() as progress:
        task = progress.add_task("importing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = dataset.import_dataset(
            db, csv_path, videos_dir=videos, holdout_fraction=holdout, seed=seed, progress=advance
        )
    console.print(
        f"{report.rows} rows: {report.videos_created} videos created, "
        f"{report.videos_existing} already present, {report.labels_added} labels added, "
        f"{len(report.held_out)} held out, {report.files_matched} files matched"
    )
    if report.encoding != "utf-8":
        console.print(f"read as {report.encoding} text (stored as UTF-8)", highlight=False)
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        console.print(
            f"[yellow]row {problem.row}[/yellow] ({problem.video_id}): {problem.message}",
            highlight=False,
        )
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        console.print(f"... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more problems")
    if strict and report.problems:
        raise fail(f"{len(report.problems)} row(s) had problems")


def export(
    out: Annotated[Path, typer.Argument(help="Output file.")],
    fmt: Annotated[
        ExportFormat | None, typer.Option("--format", help="Default: by extension.")
    ] = None,
) -> None:
    """Export effective labels (human-reviewed where present, else imported)."""
    from core import dataset

    db = open_database()
    n = dataset.export_labels(db, out, fmt=fmt.value if fmt else None)
    console.print(f"wrote {n} videos to {out}")


def remove(
    video_ids: Annotated[list[int], typer.Argument(help="Ids of the videos to remove.")],
    reason: Annotated[
        str,
        typer.Option(
            help="Why (a takedown, the uploader deleted it, an erasure request); audited.",
            show_default=False,
        ),
    ],
) -> None:
    """Remove videos for good: every row about them, their media and thumbnails (kept where a
    copy of the same bytes uses them). The audit log keeps who removed what and why."""
    from core import removal

    db = open_database()

    def remove_one(video_id: int) -> str:
        return removal.remove_video(
            db, settings=get_settings(), video_id=video_id, user=None, reason=reason
        ).describe()

    _each_video(video_ids, remove_one, undone="removed")


def expire_media() -> None:
    """Delete the media files of videos reviewed longer ago than TAGGER_MEDIA_RETENTION_DAYS
    (keyframes, transcript, vectors and labels stay), as the dashboard server does every hour:
    for a timer where the server does not run. Nothing to do when the setting is 0."""
    from core import retention

    settings = get_settings()
    if settings.media_retention_days <= 0:
        console.print("TAGGER_MEDIA_RETENTION_DAYS is 0: media is kept for good")
        return
    expired = retention.expire_media(open_database(), settings=settings)
    console.print(expired.describe(), highlight=False)
    if expired.files_left:
        raise fail(f"{len(expired.files_left)} files could not be deleted")


def _each_video(video_ids: list[int], act: Callable[[int], str], *, undone: str) -> None:
    """``act`` on each video in turn (a repeated id once), printing what it says; one bad id
    does not keep the others, and the command then fails saying how many were ``undone``."""
    from core.errors import TaggerError

    failed = 0
    for video_id in dict.fromkeys(video_ids):
        try:
            done = act(video_id)
        except TaggerError as e:
            failed += 1
            console.print(f"[red]video {video_id}: {e}[/red]", highlight=False)
            continue
        console.print(done, highlight=False)
    if failed:
        raise fail(f"{failed} of {len(set(video_ids))} videos not {undone}")


class PriorityLevel(StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"


def priority(
    video_ids: Annotated[list[int], typer.Argument(help="Ids of the videos.")],
    level: Annotated[PriorityLevel, typer.Option(help="How soon moderators see them.")],
    reason: Annotated[
        str, typer.Option(help="Why, shown to moderators (a user's report, a legal request).")
    ] = "",
) -> None:
    """Raise or lower how soon videos are reviewed: Review next serves urgent videos first, then
    high ones, the longest waiting first among equals. Audited."""
    from core import review

    db = open_database()

    def set_one(video_id: int) -> str:
        with db.session() as session:
            review.set_priority(
                session,
                video_id=video_id,
                user=None,
                priority=review.parse_priority(level),
                reason=reason,
            )
        return f"video {video_id}: {level} priority"

    _each_video(video_ids, set_one, undone="changed")


def review_targets(
    urgent: Annotated[
        int | None, typer.Option(help="Minutes within which an urgent video is reviewed.")
    ] = None,
    high: Annotated[
        int | None, typer.Option(help="Minutes within which a high-priority video is reviewed.")
    ] = None,
) -> None:
    """Show the team's review targets for raised videos, or set them (--urgent, --high; the one
    not given keeps its value). Audited; also on the Queue page for admins."""
    from core import review
    from db.queries import review as review_q
    from db.tables import ReviewPriority

    db = open_database()
    with db.session() as session:
        minutes = review.target_minutes(review_q.review_targets(session))
        if urgent is not None or high is not None:
            set_to = review.set_review_targets(
                session,
                urgent_minutes=urgent if urgent is not None else minutes[ReviewPriority.URGENT],
                high_minutes=high if high is not None else minutes[ReviewPriority.HIGH],
                user=None,
            )
            minutes = review.target_minutes(set_to)
    console.print(
        f"review targets: urgent within {minutes[ReviewPriority.URGENT]} min, high within "
        f"{minutes[ReviewPriority.HIGH]} min of being raised",
        highlight=False,
    )


rules_app = typer.Typer(
    help="Rules that raise the review priority of videos the active model gives a tag.",
    no_args_is_help=True,
)


class RuleLevel(StrEnum):
    high = "high"
    urgent = "urgent"


@rules_app.command("add")
def rules_add(
    tag: Annotated[str, typer.Argument(help='A tag path ("Sensitive Topics: Terrorism") or id.')],
    min_probability: Annotated[
        float, typer.Option(help="The model's probability for the tag from which it applies.")
    ],
    level: Annotated[RuleLevel, typer.Option(help="The priority it raises videos to.")],
) -> None:
    """Raise every video not reviewed yet that the active model gives TAG at least
    --min-probability to --level: those it has predicted so now, the others when it predicts
    them (new uploads, `tagger predict`)."""
    from core import priority_rules, review

    with open_database().session() as session:
        added = priority_rules.add_rule(
            session,
            tag=tag,
            min_probability=min_probability,
            level=review.parse_priority(level),
            user=None,
        )
        node_id = added.rule.node_id
        path = taxonomy_queries.node_paths(session, node_ids=[node_id])[node_id]
    console.print(
        f"rule {added.rule.id}: {path} from {min_probability:.2f} -> {level}; "
        f"{added.raised} videos predicted so raised now",
        highlight=False,
    )


@rules_app.command("list")
def rules_list() -> None:
    """The rules, the most urgent first."""
    from core.review import priority_name
    from db.queries import priority_rules as rules_q

    with open_database().session() as session:
        rules = rules_q.list_rules(session)
        paths = taxonomy_queries.node_paths(session, node_ids=[r.node_id for r in rules])
    print_table(
        ("id", "tag", "from probability", "priority", "created"),
        (
            (
                str(r.id),
                paths.get(r.node_id, r.node_id),
                f"{r.min_probability:.2f}",
                priority_name(r.priority),
                when(r.created_at),
            )
            for r in rules
        ),
    )


@rules_app.command("remove")
def rules_remove(rule_id: Annotated[int, typer.Argument()]) -> None:
    """Delete a rule (the priorities it raised stay)."""
    from core import priority_rules

    with open_database().session() as session:
        priority_rules.remove_rule(session, rule_id=rule_id, user=None)
    console.print(f"removed rule {rule_id}")


users_app = typer.Typer(help="Manage dashboard accounts.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Option(help="moderator, lead or admin.")] = Role.MODERATOR,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Add an account (asks for the password unless --password-stdin)."""
    from core import auth

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = auth.create_user(open_database(), username=username, password=password, role=role.value)
    console.print(f"added {user.role} {user.username!r} (id {user.id})")


@users_app.command("list")
def users_list() -> None:
    """List accounts with their latest sign-in."""
    with open_database().session() as session:
        accounts = user_queries.list_accounts(session)
    print_table(
        ("id", "username", "role", "languages", "created", "last sign-in", "sso", "disabled"),
        (
            (
                str(a.id),
                a.username,
                a.role,
                ",".join(a.languages) or "any",
                when(a.created_at),
                when(a.last_sign_in_at) or "never",
                "bound" if a.single_sign_on else "",
                "yes" if a.disabled else "",
            )
            for a in accounts
        ),
    )


@users_app.command("set-role")
def users_set_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Argument(help="moderator, lead or admin.")],
) -> None:
    """Give an account another role (from its next page or request on)."""
    from core import auth

    auth.set_role(open_database(), username=username, role=role.value)
    console.print(f"{username!r} is now {role.value}")


@users_app.command("rename")
def users_rename(
    username: Annotated[str, typer.Argument()],
    new_username: Annotated[str, typer.Argument()],
) -> None:
    """Give an account another name (an e-mail that changed): its sessions, reviews and
    history stay with it."""
    from core import auth

    renamed = auth.rename_user(open_database(), username=username, new_username=new_username)
    console.print(f"{username!r} is now {renamed.username!r}")


@users_app.command("set-languages")
def users_set_languages(
    username: Annotated[str, typer.Argument()],
    languages: Annotated[
        list[str] | None, typer.Argument(help="Codes as Whisper reports them (de, ru); none: any.")
    ] = None,
) -> None:
    """The spoken languages an account reviews: its queue then holds only videos in them, or
    with no language detected or no speech."""
    from core import auth

    stored = auth.set_languages(open_database(), username=username, languages=languages or [])
    console.print(f"{username!r} reviews {', '.join(stored) or 'any language'}")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable an account and sign it out everywhere."""
    from core import auth

    auth.disable_user(open_database(), username=username)
    console.print(f"disabled {username!r}")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled account sign in again."""
    from core import auth

    auth.enable_user(open_database(), username=username)
    console.print(f"enabled {username!r}")


@users_app.command("forget-sso")
def users_forget_sso(username: Annotated[str, typer.Argument()]) -> None:
    """Forget the single sign-on identity bound to an account: its next sign-in through the
    provider binds whichever identity there has its name (a person whose account at the
    provider was made again)."""
    from core import sso

    if sso.unbind(open_database(), username=username):
        console.print(f"{username!r} binds a single sign-on identity at its next sign-in")
    else:
        console.print(f"{username!r} had no single sign-on identity")


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool,
        typer.Option(
            help="Read the new password from the first line of stdin instead of generating one."
        ),
    ] = False,
) -> None:
    """Give an account a new password (printed once unless --password-stdin) and sign it out
    everywhere."""
    from core import auth

    given = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    password = auth.reset_password(open_database(), username=username, password=given)
    if given is None:
        console.print(
            f"new password for {username!r}: {password}  (shown once, not stored; note it now)",
            highlight=False,
        )
    else:
        console.print(f"password of {username!r} changed")
    console.print("signed out of every session", highlight=False)


def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: all).")] = "127.0.0.1",
) -> None:
    """Run the review dashboard and the HTTP API (/api) in one server."""
    # The server replaces this process (exec) rather than running as its child: a SIGTERM from
    # `kill`, `docker stop` or a supervisor then reaches the server itself, which shuts down (a
    # parent that died of it used to leave the server running and holding the port).
    from dashboard.launch import SERVER_FILE, serve_command

    if not SERVER_FILE.is_file():
        raise fail(f"server entry file {SERVER_FILE} is missing")
    open_database()
    command = serve_command(host=host, port=port)
    sys.stdout.flush()  # exec drops what Python has buffered (the demo's account lines)
    sys.stderr.flush()
    os.execv(command[0], command)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("import-taxonomy")(import_taxonomy)
    app.command("import")(import_dataset)
    app.command("export")(export)
    app.command("remove")(remove)
    app.command("expire-media")(expire_media)
    app.command("priority")(priority)
    app.command("review-targets")(review_targets)
    app.add_typer(rules_app, name="priority-rules")
    app.add_typer(users_app, name="users")
    app.command("serve")(serve)
