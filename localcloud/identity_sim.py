"""App Service's managed identity endpoint (the local token service at IDENTITY_ENDPOINT), as an
aiohttp application.

Contract ("How to use managed identities for App Service and Azure Functions", REST endpoint
reference): `GET {IDENTITY_ENDPOINT}?resource=…&api-version=2019-08-01[&client_id=…]` with the
header `X-IDENTITY-HEADER: {IDENTITY_HEADER}`; `client_id` (or `principal_id` / `object_id`,
`mi_res_id`) picks a user-assigned identity, none picks the system-assigned one. 200 answers
`{access_token, client_id, expires_on, not_before, resource, token_type}` with the times as
epoch seconds in strings (the page's example). MSAL's ManagedIdentityClient (1.39,
`_obtain_token_on_app_service`) sends exactly this and reads access_token and expires_on.

The back end keeps one token per identity and resource for hours ("maintain a cache per resource
URI"), so asking twice returns the same token; `tokens_issued` counts the fresh ones.

Tokens are signed by the shared LocalIssuer, so the Graph and Bot Connector simulators accept
them and the Entra ID simulator can take them as federated client assertions: `iss` is the
identity's tenant issuer (`{authority}/{tenant}/v2.0`), `sub` and `oid` its object (principal)
id, `appid`/`azp` its client id, `idtyp` app, and `roles` what was granted on the resource.
"""
from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .issuer import LocalIssuer

API_VERSION = "2019-08-01"


@dataclass(frozen=True)
class ManagedIdentity:
    client_id: str
    tenant_id: str
    principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # its object id

    @property
    def resource_id(self) -> str:
        return ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/meetbot/"
                f"providers/Microsoft.ManagedIdentity/userAssignedIdentities/{self.client_id}")


@dataclass
class IdentitySim:
    issuer: LocalIssuer = field(repr=False)
    header: str = field(default_factory=lambda: str(uuid.uuid4()), repr=False)  # IDENTITY_HEADER
    authority: str = "https://login.microsoftonline.com"  # the tenants' issuer host
    identities: list[ManagedIdentity] = field(default_factory=list)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> app roles
    lifetime: int = 24 * 3600  # managed identity tokens live about a day
    requests: Counter = field(default_factory=Counter)  # resource -> requests
    tokens_issued: int = 0
    _cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, repr=False)

    def add(self, identity: ManagedIdentity) -> ManagedIdentity:
        """Assigns a user-assigned identity to the (simulated) app."""
        self.identities.append(identity)
        return identity

    def token_issuer(self, identity: ManagedIdentity) -> str:
        """The `iss` of the identity's tokens: a federated credential names it."""
        return f"{self.authority.rstrip('/')}/{identity.tenant_id}/v2.0"

    def answer(self, query: dict[str, str], header: str) -> tuple[int, dict[str, Any]]:
        if not header or not secrets.compare_digest(header, self.header):
            return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."}
        if query.get("api-version") != API_VERSION:
            return 400, {"statusCode": 400, "message": "api-version must be 2019-08-01."}
        resource = query.get("resource", "")
        if not resource:
            return 400, {"statusCode": 400, "message": "resource is required."}
        self.requests[resource] += 1
        picked = [(k, query[k]) for k in ("client_id", "principal_id", "object_id", "mi_res_id")
                  if query.get(k)]
        if len(picked) > 1:
            return 400, {"statusCode": 400, "message": "Use only one of client_id, "
                         "principal_id, object_id and mi_res_id."}
        identity = self._find(*picked[0]) if picked else None
        if identity is None:  # no system-assigned identity here; an unknown user-assigned one
            return 400, {"statusCode": 400, "message": "No managed identity matches the "
                         "request (this app has only user-assigned identities)."}
        key = (identity.client_id, resource)
        cached = self._cache.get(key)
        if cached is None or int(cached["expires_on"]) - time.time() < 300:
            cached = self._cache[key] = self._mint(identity, resource)
        return 200, cached

    def _find(self, kind: str, value: str) -> ManagedIdentity | None:
        attribute = {"client_id": "client_id", "principal_id": "principal_id",
                     "object_id": "principal_id", "mi_res_id": "resource_id"}[kind]
        return next((i for i in self.identities
                     if getattr(i, attribute).lower() == value.lower()), None)

    def _mint(self, identity: ManagedIdentity, resource: str) -> dict[str, Any]:
        self.tokens_issued += 1
        now = int(time.time())
        token = self.issuer.issue({
            "aud": resource, "tid": identity.tenant_id, "oid": identity.principal_id,
            "sub": identity.principal_id, "appid": identity.client_id, "azp": identity.client_id,
            "appidacr": "2", "idtyp": "app", "roles": list(self.roles.get(resource, ())),
            "xms_mirid": identity.resource_id, "ver": "2.0",
            "uti": secrets.token_urlsafe(16)},
            lifetime=self.lifetime, issuer=self.token_issuer(identity))
        return {"access_token": token, "client_id": identity.client_id,
                "expires_on": str(now + self.lifetime), "not_before": str(now),
                "resource": resource, "token_type": "Bearer"}


IDENTITY_SIM = web.AppKey("identity_sim", IdentitySim)


def create_identity_app(issuer: LocalIssuer, *, authority: str = "https://login.microsoftonline.com",
                        roles: dict[str, tuple[str, ...]] | None = None) -> web.Application:
    """The identity endpoint; IDENTITY_ENDPOINT is `{url}/msi/token`, IDENTITY_HEADER is
    `app[IDENTITY_SIM].header`. Add identities with `app[IDENTITY_SIM].add(…)`."""
    sim = IdentitySim(issuer, authority=authority, roles=dict(roles or {}))
    app = web.Application()
    app[IDENTITY_SIM] = sim

    async def token(request: web.Request) -> web.Response:
        status, body = sim.answer(dict(request.query), request.headers.get("X-IDENTITY-HEADER", ""))
        return web.json_response(body, status=status)

    app.router.add_get("/msi/token", token)
    return app
