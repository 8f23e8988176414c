"""``/v1/accounts`` (admin scope): a platform provisions its reviewers' dashboard accounts from
its own systems (onboarding, a role change, offboarding) instead of an admin clicking through the
Accounts page. The same rules as the page and ``tagger users``: ``core.auth``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from core import auth
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import (
    AccountChange,
    AccountCreated,
    AccountIn,
    AccountOut,
    PasswordReset,
    Problem,
)
from db.engine import Database
from db.queries import users as users_q

router = APIRouter(prefix="/accounts", tags=["accounts"])
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}


def _account(db: Database, username: str) -> AccountOut:
    with db.session() as session:
        found = users_q.list_accounts(session, username=username)
    if not found:
        raise auth.UnknownUserError(f"no user {username!r}")
    return AccountOut.model_validate(found[0], from_attributes=True)


@router.get("", response_model=list[AccountOut], responses=_ERRORS)
def list_accounts(ctx: Ctx, user: Admin) -> list[AccountOut]:
    """Every account, by name."""
    with ctx.db.session() as session:
        found = users_q.list_accounts(session)
    return [AccountOut.model_validate(a, from_attributes=True) for a in found]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountCreated,
    responses={409: {"model": Problem}, 422: {"model": Problem}, **_ERRORS},
)
def create_account(ctx: Ctx, user: Admin, body: AccountIn) -> AccountCreated:
    """A new account with a generated password (in the answer, once); 409 when the name is
    taken, 422 for a name with spaces or a bad language code (nothing is created then)."""
    password = auth.generate_password()
    created = auth.create_user(
        ctx.db,
        username=body.username,
        password=password,
        role=body.role,
        languages=body.languages,
        created_by=user,
    )
    return AccountCreated(account=_account(ctx.db, created.username), password=password)


_NOT_FOUND = {404: {"model": Problem}}


@router.get("/{username}", response_model=AccountOut, responses={**_NOT_FOUND, **_ERRORS})
def get_account(ctx: Ctx, user: Admin, username: str) -> AccountOut:
    return _account(ctx.db, username)


@router.patch(
    "/{username}",
    response_model=AccountOut,
    responses={**_NOT_FOUND, 409: {"model": Problem}, 422: {"model": Problem}, **_ERRORS},
)
def change_account(ctx: Ctx, user: Admin, username: str, body: AccountChange) -> AccountOut:
    """Change the name, role, status or review languages (the fields sent) in one unit of
    work; 409 when the new name is taken or the change would leave no admin who can sign in,
    422 for a name with spaces or a bad language code."""
    changed = auth.update_account(
        ctx.db,
        username=username,
        new_username=body.username,
        role=body.role,
        disabled=body.disabled,
        languages=body.languages,
        by=user,
    )
    return _account(ctx.db, changed.username)


@router.post(
    "/{username}/password",
    response_model=PasswordReset,
    responses={**_NOT_FOUND, **_ERRORS},
)
def reset_password(ctx: Ctx, user: Admin, username: str) -> PasswordReset:
    """A generated password (in the answer, once); every session of the account ends."""
    return PasswordReset(password=auth.reset_password(ctx.db, username=username, by=user))
