"""SCIM 2.0 user provisioning (RFC 7643, 7644) at ``/api/scim/v2``: the team's identity provider
(Okta, Microsoft Entra ID, OneLogin, Keycloak with a SCIM plug-in) makes, changes and deactivates
dashboard accounts as people join, change role or leave, and a deactivation signs the person
out at once instead of at the end of their session.

An account as a SCIM ``User``: ``id`` (the account's number), ``userName`` (the account name:
the e-mail that single sign-on matches), ``externalId`` (the provider's id for the person, kept
as sent), ``active`` (not disabled) and ``roles`` (one value: ``moderator``, ``lead`` or
``admin``). Other attributes a provider sends (``name``, ``emails``, ...) are accepted and not
kept. Accounts are never deleted, as their reviews and
audit trail name them: ``DELETE`` disables the account, which then reads ``active: false``. A
new ``userName`` (an e-mail changed at the provider) renames the account and keeps the rest. The
same rules as the Accounts page and ``/v1/accounts`` (``core.auth``); a bearer token with the
admin scope; every change audited under the token.

The roles are also three fixed SCIM ``Group`` resources, ``moderator``, ``lead`` and ``admin``
(id and ``displayName`` the role's name; members: the accounts with that role), for providers
that assign roles by pushing groups (Okta): adding a member gives the account the group's role,
removing one whose role it is gives the lowest role, ``moderator``. A membership change is one
unit of work. Groups are neither made nor deleted.

Modules: ``protocol`` (SCIM's messages, errors, filters, PATCH operations, attribute
selection), ``discovery`` (what the service supports), ``users``, ``groups``.
"""

from __future__ import annotations

from fastapi import FastAPI

from dashboard.api.context import ApiContext
from dashboard.api.scim import discovery, groups, users
from dashboard.api.scim.protocol import install_errors

__all__ = ["create_scim"]


def create_scim(api_context: ApiContext) -> FastAPI:
    """The SCIM app, mounted by ``create_api`` below the API; it shares the API's context (its
    database, tokens and rate limit) and answers errors in SCIM's form."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.context = api_context
    install_errors(app)
    app.add_api_route("/ServiceProviderConfig", discovery.service_provider_config, methods=["GET"])
    app.add_api_route("/ResourceTypes", discovery.resource_types, methods=["GET"])
    app.add_api_route("/ResourceTypes/{name}", discovery.resource_type, methods=["GET"])
    app.add_api_route("/Schemas", discovery.schemas, methods=["GET"])
    app.add_api_route("/Schemas/{schema_id}", discovery.schema, methods=["GET"])
    app.add_api_route("/Users", users.list_users, methods=["GET"])
    app.add_api_route("/Users", users.create_user, methods=["POST"])
    app.add_api_route("/Users/.search", users.search_users, methods=["POST"])
    app.add_api_route("/Users/{user_id}", users.get_user, methods=["GET"], name="scim_user")
    app.add_api_route("/Users/{user_id}", users.replace_user, methods=["PUT"])
    app.add_api_route("/Users/{user_id}", users.patch_user, methods=["PATCH"])
    app.add_api_route("/Users/{user_id}", users.delete_user, methods=["DELETE"])
    app.add_api_route("/Groups", groups.list_groups, methods=["GET"])
    app.add_api_route("/Groups", groups.create_group, methods=["POST"])
    app.add_api_route("/Groups/{group_id}", groups.get_group, methods=["GET"], name="scim_group")
    app.add_api_route("/Groups/{group_id}", groups.replace_group, methods=["PUT"])
    app.add_api_route("/Groups/{group_id}", groups.patch_group, methods=["PATCH"])
    app.add_api_route("/Groups/{group_id}", groups.delete_group, methods=["DELETE"])
    return app
