"""Bearer-token access: 401 without a valid token, 429 past the token's rate limit, 403 when its
scope does not allow the route. Routes declare the scope they need with ``Depends(read)`` etc."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.tokens import TokenPrincipal, resolve_token, scope_allows
from dashboard.api.context import ApiContext, context
from db.tables import TokenScope

_bearer = HTTPBearer(auto_error=False, description="An API token from `tagger tokens create`.")


def _principal(needed: str):
    def check(
        ctx: Annotated[ApiContext, Depends(context)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenPrincipal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = resolve_token(
            ctx.db, credentials.credentials, cache_s=ctx.settings.api_token_cache_s
        )
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "unknown or revoked API token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        wait = ctx.limiter.acquire(principal.token_id)
        if wait:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of {ctx.settings.api_rate_limit_per_minute} requests a minute "
                f"reached; retry in {wait:.1f} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        if not scope_allows(principal.scope, needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs a token with the {needed} scope; {principal.token_name!r} has "
                f"{principal.scope}",
            )
        return principal

    return check


read = _principal(TokenScope.READ)
write = _principal(TokenScope.WRITE)
admin = _principal(TokenScope.ADMIN)

Reader = Annotated[TokenPrincipal, Depends(read)]
Writer = Annotated[TokenPrincipal, Depends(write)]
Admin = Annotated[TokenPrincipal, Depends(admin)]
