"""What the service supports, for the provider to read (RFC 7644, 4): its configuration, its
resource types and their schemas."""

from __future__ import annotations

from fastapi import status

from dashboard.api.access import Admin
from dashboard.api.scim.protocol import (
    GROUP_SCHEMA,
    MAX_RESULTS,
    USER_SCHEMA,
    ScimError,
    ScimResponse,
    list_response,
)
from db.tables import Role


def service_provider_config(user: Admin) -> ScimResponse:
    return ScimResponse(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "API token",
                    "description": "A token with the admin scope from `tagger tokens create`.",
                }
            ],
        }
    )


def resource_types(user: Admin) -> ScimResponse:
    return ScimResponse(
        list_response(list(RESOURCE_TYPES.values()), total=len(RESOURCE_TYPES), start=1)
    )


def resource_type(user: Admin, name: str) -> ScimResponse:
    if name not in RESOURCE_TYPES:
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no resource type {name!r}")
    return ScimResponse(RESOURCE_TYPES[name])


def schemas(user: Admin) -> ScimResponse:
    return ScimResponse(list_response(list(SCHEMAS.values()), total=len(SCHEMAS), start=1))


def schema(user: Admin, schema_id: str) -> ScimResponse:
    if schema_id not in SCHEMAS:
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no schema {schema_id!r}")
    return ScimResponse(SCHEMAS[schema_id])


def _definition(name: str, kind: str, **more: object) -> dict[str, object]:
    """An attribute's definition (RFC 7643, 7) with the specification's defaults."""
    return {
        "name": name,
        "type": kind,
        "multiValued": False,
        "description": "",
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
        **more,
    }


_ROLE_NAMES = [role.value for role in Role]
SCHEMAS = {
    USER_SCHEMA: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A dashboard account",
        "attributes": [
            _definition(
                "userName",
                "string",
                description="The account's name: the e-mail single sign-on matches",
                required=True,
                uniqueness="server",
            ),
            _definition(
                "externalId",
                "string",
                description="The identity provider's id for the person",
                caseExact=True,
            ),
            _definition("active", "boolean", description="False: disabled, signed out"),
            _definition(
                "roles",
                "complex",
                description="The account's one role",
                multiValued=True,
                subAttributes=[
                    _definition("value", "string", canonicalValues=_ROLE_NAMES, caseExact=True),
                    _definition("primary", "boolean"),
                ],
            ),
            _definition(
                "password", "string", mutability="writeOnly", returned="never", caseExact=True
            ),
        ],
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{USER_SCHEMA}"},
    },
    GROUP_SCHEMA: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A role: its members are the accounts with it",
        "attributes": [
            _definition(
                "displayName",
                "string",
                description="The role's name",
                required=True,
                mutability="immutable",
                uniqueness="server",
                canonicalValues=_ROLE_NAMES,
                caseExact=True,
            ),
            _definition(
                "members",
                "complex",
                multiValued=True,
                subAttributes=[
                    _definition("value", "string", caseExact=True),
                    _definition("display", "string", mutability="readOnly"),
                ],
            ),
        ],
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{GROUP_SCHEMA}"},
    },
}


RESOURCE_TYPES = {
    name: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": f"/{name}s",
        "schema": schema_id,
        "meta": {"resourceType": "ResourceType", "location": f"/ResourceTypes/{name}"},
    }
    for name, schema_id in (("User", USER_SCHEMA), ("Group", GROUP_SCHEMA))
}
