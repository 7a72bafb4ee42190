"""Entra ID (Microsoft identity platform v2.0) simulator, plus the Bot Framework channel's
OpenID metadata, as an aiohttp application.

Contracts (Microsoft documentation; see also docs/graph-contract.md §8 of the shared notes):
- token endpoint `POST /{tenant}/oauth2/v2.0/token`, form-encoded: client credentials
  ("OAuth 2.0 client credentials grant"), on-behalf-of ("Microsoft identity platform and OAuth 2.0
  On-Behalf-Of flow": grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer,
  requested_token_use=on_behalf_of, assertion with aud = this app), refresh_token;
- error body `{error, error_description "AADSTSnnn: …", error_codes, timestamp, trace_id,
  correlation_id, [suberror], [claims]}` ("Microsoft Entra authentication and authorization
  error codes"); 400 for grant errors, 401 for client authentication errors;
- client authentication by a secret, or by a client assertion ("Microsoft identity platform
  application authentication certificate credentials": `client_assertion_type=urn:ietf:params:
  oauth:client-assertion-type:jwt-bearer`, a JWT with iss = sub = client id, aud = the token
  endpoint, jti, exp, nbf, signed RS256 with `x5t` (SHA-1) or PS256 with `x5t#S256` by a
  certificate registered on the app), or one whose assertion is a token from a trusted issuer
  matching a federated identity credential's issuer, subject and audience ("Workload identity
  federation", "Configure an application to trust a managed identity"); AADSTS700027,
  700024, 700213 and 700016 as Entra answers them;
- `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /{tenant}/discovery/v2.0/keys`,
  `GET /common/discovery/instance` (MSAL's instance discovery, used when MSAL is given
  `instance_discovery="https://…/common/discovery/instance"`; with `instance_discovery=False`
  MSAL skips it);
- Bot Framework "Authentication with the Bot Connector API": the channel's OpenID document
  `GET /v1/.well-known/openidconfiguration` (issuer https://api.botframework.com) whose
  `jwks_uri` lists keys with `endorsements` (channel ids); tokens the Bot Connector sends to the
  bot carry iss https://api.botframework.com, aud = bot app id and a `serviceurl` claim.

What the real clients read (checked in their source):
- MSAL 1.39 (`msal/authority.py`): `authorization_endpoint`, `token_endpoint` (its tenant
  segment becomes the cache "realm"), optional `issuer`, `device_authorization_endpoint`;
  token responses: `access_token`, `expires_in`, `ext_expires_in`, `scope` (cache target),
  `refresh_token`, `id_token` and `client_info` (base64url `{uid, utid}` = home account id).
- botbuilder 4.17 (`jwt_token_extractor.py`): `jwks_uri`, then keys by `kid` with optional
  `endorsements` that must contain the activity's channel id.

Personal Microsoft accounts (tid 9188040d-6c67-4c5b-b112-36a304b66dad): Teams SSO supports them
and Entra's v2 endpoint performs OBO for them when the app accepts personal accounts, so the
exchange succeeds here and yields a token with the consumer `tid`; it is Graph that refuses
them (onlineMeetings: "Personal Microsoft accounts: not supported").

Every token is signed by the shared `LocalIssuer` with its default `iss`, except channel tokens.

Scriptable misbehaviour: `stall(seconds)` holds the next token request(s) open before answering,
like an Entra ID that accepted the connection and then went quiet; `requests` counts every HTTP
request, so a test can prove that nothing reached Entra ID at all.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from .issuer import LocalIssuer

CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
BOTFRAMEWORK_TENANT = "d6d49420-f39b-4df7-a1dc-d59a935871db"  # iss tenant in the Bot Framework docs
CHANNEL_ISSUER = "https://api.botframework.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
TEAMS_CLIENT_ID = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"  # Teams desktop/mobile (pre-authorised)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# Channel ids the simulated Bot Framework keys are endorsed for (botbuilder checks the
# activity's channelId against them).
DEFAULT_ENDORSEMENTS = ("msteams", "webchat", "directline", "emulator", "test")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})


class EntraError(Exception):
    """An error the token endpoint answers in Entra's JSON format."""

    def __init__(self, code: int, error: str, message: str, *, status: int = 400,
                 suberror: str | None = None, claims: str | None = None) -> None:
        super().__init__(message)
        self.code, self.error, self.message, self.status = code, error, message, status
        self.suberror, self.claims = suberror, claims

    def body(self) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        description = (f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
                       f"Correlation ID: {correlation_id}\r\nTimestamp: {now}")
        body: dict[str, Any] = {
            "error": self.error, "error_description": description, "error_codes": [self.code],
            "timestamp": now, "trace_id": trace_id, "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}"}
        if self.suberror:
            body["suberror"] = self.suberror
        if self.claims:
            body["claims"] = self.claims
        return body


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential on an app: tokens from `issuer` for `subject` with
    `audience` authenticate the app (a managed identity: its tenant's issuer, its object id)."""
    issuer: str
    subject: str
    audience: str = TOKEN_EXCHANGE_AUDIENCE


@dataclass
class _RefreshGrant:
    client_id: str
    user: dict[str, Any]  # the user claims carried into every token for this grant


@dataclass
class EntraSim:
    """State of one simulated Entra ID; scriptable from tests."""

    issuer: LocalIssuer = field(repr=False)
    clients: dict[str, str] = field(repr=False)  # client_id -> secret ("" = none)
    certificates: dict[str, list[Any]] = field(default_factory=dict)  # client_id -> x509 certs
    federated: dict[str, list[FederatedCredential]] = field(default_factory=dict)
    app_id_uris: dict[str, set[str]] = field(default_factory=dict)
    app_tenant: str = "11111111-1111-4111-8111-111111111111"  # tid of app tokens on /common
    delegated_scopes: tuple[str, ...] = ("OnlineMeetings.ReadWrite",)  # what ".default" grants
    app_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> roles
    endorsements: tuple[str, ...] = DEFAULT_ENDORSEMENTS
    token_lifetime: int = 3600
    calls: Counter = field(default_factory=Counter)  # grant kind -> token requests
    requests: int = 0  # every HTTP request, documents and keys included
    _stalls: list[tuple[float, str | None]] = field(default_factory=list, repr=False)
    _consent_required: set[str] = field(default_factory=set, repr=False)
    _withheld: dict[str, set[str]] = field(default_factory=dict, repr=False)  # tenant -> permissions
    _interaction_required: dict[str, str] = field(default_factory=dict, repr=False)
    _refresh: dict[str, _RefreshGrant] = field(default_factory=dict, repr=False)  # secrets

    # --- scripting -------------------------------------------------------------------------
    def stall(self, seconds: float, *, times: int = 1, grant: str | None = None) -> None:
        """The next `times` token requests (of one grant kind, as counted in `calls`, when
        `grant` is given) are held open `seconds` before they are answered."""
        self._stalls.extend((seconds, grant) for _ in range(times))

    def take_stall(self, grant: str) -> float:
        for i, (seconds, only) in enumerate(self._stalls):
            if only is None or only == grant:
                del self._stalls[i]
                return seconds
        return 0.0

    def require_consent(self, user_oid: str) -> None:
        """OBO/refresh for this user fails with AADSTS65001 until `grant_consent`."""
        self._consent_required.add(user_oid)

    def grant_consent(self, user_oid: str) -> None:
        self._consent_required.discard(user_oid)

    def withhold_consent(self, tenant_id: str, *permissions: str) -> None:
        """This tenant has not granted these permissions (e.g. `Calendars.ReadWrite`) to any app:
        on-behalf-of or refresh naming one fails with AADSTS65001 consent_required, like the
        per-user case; `.default` and client-credential tokens simply leave them out (the token
        lacks the scope or role, and Graph answers 403)."""
        self._withheld.setdefault(tenant_id.lower(), set()).update(permissions)

    def grant_tenant_consent(self, tenant_id: str, *permissions: str) -> None:
        self._withheld.get(tenant_id.lower(), set()).difference_update(permissions)

    def require_interaction(self, user_oid: str, claims: str | None = None) -> None:
        """Conditional Access: OBO fails with interaction_required (AADSTS50079) + claims."""
        self._interaction_required[user_oid] = claims or json.dumps(
            {"access_token": {"polids": {"essential": True, "values": [str(uuid.uuid4())]}}})

    def clear_interaction(self, user_oid: str) -> None:
        self._interaction_required.pop(user_oid, None)

    def register_certificate(self, client_id: str, certificate_pem: str | bytes) -> str:
        """Certificates & secrets > Upload certificate: the app may now sign client assertions
        with the matching key. Returns the SHA-1 thumbprint the portal shows."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        data = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
        cert = x509.load_pem_x509_certificate(data)
        self.clients.setdefault(client_id, "")
        self.certificates.setdefault(client_id, []).append(cert)
        return cert.fingerprint(hashes.SHA1()).hex().upper()

    def add_federated_credential(self, client_id: str, credential: FederatedCredential) -> None:
        """Certificates & secrets > Federated credentials > Add credential."""
        self.clients.setdefault(client_id, "")
        self.federated.setdefault(client_id, []).append(credential)

    def audiences_for(self, client_id: str) -> list[str]:
        """The app's identifiers an OBO assertion may be addressed to."""
        return [client_id, f"api://botid-{client_id}", f"api://{client_id}",
                *sorted(self.app_id_uris.get(client_id, ()))]

    # --- tokens that other parties would mint ----------------------------------------------
    def user_sso_token(self, user_oid: str, tenant_id: str, *, app_id: str, name: str = "",
                       upn: str = "", expired: bool = False, audience: str | None = None) -> str:
        """The token Teams puts in `signin/tokenExchange` (aud = the bot's Application ID URI,
        scp access_as_user, issued to the Teams client)."""
        claims = {"aud": audience or f"api://botid-{app_id}", "tid": tenant_id, "oid": user_oid,
                  "sub": _sub(user_oid, app_id), "scp": "access_as_user", "azp": TEAMS_CLIENT_ID,
                  "appid": TEAMS_CLIENT_ID, "name": name, "preferred_username": upn, "upn": upn,
                  "ver": "2.0", "uti": secrets.token_urlsafe(16)}
        if tenant_id == CONSUMER_TENANT:
            claims["idp"] = "live.com"
        if expired:
            # Long past the verifier's leeway.
            return self.issuer.issue(claims, lifetime=-3600)
        return self.issuer.issue(claims, lifetime=self.token_lifetime)

    def channel_token(self, app_id: str, service_url: str, *, lifetime: int = 3600) -> str:
        """What the Bot Connector service sends to the bot (Authorization: Bearer …)."""
        return self.issuer.issue({"aud": app_id, "serviceurl": service_url},
                                 issuer=CHANNEL_ISSUER, lifetime=lifetime)

    # --- documents ---------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        keys = self.issuer.jwks()["keys"]
        return {"keys": [dict(k, endorsements=list(self.endorsements)) for k in keys]}

    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        root = f"{base}/{tenant}"
        return {
            "issuer": self.issuer.issuer,
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                                 "name", "preferred_username", "oid", "tid", "ver"],
            "request_uri_parameter_supported": False,
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }

    # --- the token endpoint -------------------------------------------------------------------
    def token(self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None,
              endpoint: str = "") -> dict[str, Any]:
        """`endpoint`: this token endpoint's URL, the audience client assertions must name."""
        grant = grant_kind(form)
        self.calls[grant] += 1
        client_id = form.get("client_id") or (basic[0] if basic else "")
        if grant in ("client_credentials", "on_behalf_of", "refresh_token"):
            if form.get("client_assertion_type") == CLIENT_ASSERTION_TYPE:
                self.calls[f"assertion:{self._assertion(tenant, client_id, form, endpoint)}"] += 1
            else:
                self._authenticate(tenant, client_id,
                                   form.get("client_secret") or (basic[1] if basic else ""))
        if grant == "client_credentials":
            return self._client_credentials(tenant, client_id, _scopes(form))
        if grant == "on_behalf_of":
            return self._on_behalf_of(client_id, form)
        if grant == "refresh_token":
            return self._refresh_token(client_id, form)
        raise EntraError(70003, "unsupported_grant_type", "The app requested an unsupported "
                         f"grant type '{form.get('grant_type', '')}'.")

    def _authenticate(self, tenant: str, client_id: str, secret: str) -> None:
        if client_id not in self.clients:
            raise _unknown_client(client_id, tenant)
        expected = self.clients[client_id].encode()
        if not secret or not secrets.compare_digest(secret.encode(), expected):
            raise EntraError(7000215, "invalid_client",
                             "Invalid client secret provided. Ensure the secret being sent in the "
                             "request is the client secret value, not the client secret ID, for "
                             f"a secret added to app '{client_id}'.", status=401)

    def _assertion(self, tenant: str, client_id: str, form: dict[str, str],
                   endpoint: str) -> str:
        """Authenticates the client by its assertion; returns "certificate" or "federated"."""
        if client_id not in self.clients:
            raise _unknown_client(client_id, tenant)
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise EntraError(50027, "invalid_request", "JWT token is invalid or malformed.",
                             status=401) from None
        if "x5t#S256" in header or "x5t" in header:
            self._check_certificate_assertion(client_id, assertion, header, endpoint)
            return "certificate"
        self._check_federated_assertion(client_id, assertion)
        return "federated"

    def _check_certificate_assertion(self, client_id: str, assertion: str,
                                     header: dict[str, Any], endpoint: str) -> None:
        """The "certificate credentials" page: the key named by x5t / x5t#S256 must be a
        certificate uploaded to the app; iss and sub the client id; aud the token endpoint."""
        from cryptography.hazmat.primitives import hashes

        sha256 = "x5t#S256" in header
        named = str(header.get("x5t#S256") or header.get("x5t")).rstrip("=")  # MSAL pads it
        cert = next((c for c in self.certificates.get(client_id, ())
                     if _b64u(c.fingerprint(hashes.SHA256() if sha256 else hashes.SHA1()))
                     == named), None)
        if cert is None or header.get("alg") not in (("PS256",) if sha256 else ("RS256", "PS256")):
            raise EntraError(700027, "invalid_client",
                             "Client assertion contains an invalid signature. [Reason - The key "
                             "was not found., Thumbprint of key used by client: "
                             f"'{named}']", status=401)
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=[header["alg"]],
                                audience=[endpoint, endpoint.replace("/v2.0/token", "/token")],
                                issuer=client_id, leeway=300,
                                # The page lists nbf too, but MSAL sends none and Entra ID
                                # accepts that.
                                options={"require": ["exp", "jti", "sub"]})
        except jwt.ExpiredSignatureError:
            raise EntraError(700024, "invalid_client",
                             "Client assertion is not within its valid time range.",
                             status=401) from None
        except jwt.InvalidSignatureError:
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation.", status=401) from None
        except jwt.PyJWTError as err:
            raise EntraError(50027, "invalid_request",
                             f"Invalid JWT token. {err}", status=401) from None
        if claims.get("sub") != client_id:
            raise EntraError(50027, "invalid_request",
                             "Invalid JWT token. The sub claim is not the client id.", status=401)

    def _check_federated_assertion(self, client_id: str, assertion: str) -> None:
        """Workload identity federation: a token from a trusted issuer (here, this cloud's
        issuer: managed identities' tokens) whose iss, sub and aud match a federated identity
        credential of the app."""
        try:
            claims = self.issuer.verify(assertion, leeway=0)
        except jwt.ExpiredSignatureError:
            raise EntraError(700024, "invalid_client",
                             "Client assertion is not within its valid time range.",
                             status=401) from None
        except jwt.PyJWTError:
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation.", status=401) from None
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        for fic in self.federated.get(client_id, ()):
            if fic.issuer == claims.get("iss") and fic.subject == claims.get("sub") and \
                    fic.audience in audiences:
                return
        raise EntraError(700213, "invalid_client",
                         "No matching federated identity record found for presented assertion "
                         f"subject '{claims.get('sub')}'. Check your federated identity credential "
                         "Subject, Audience and Issuer against the presented assertion.",
                         status=401)

    def _client_credentials(self, tenant: str, client_id: str, scopes: list[str]) -> dict:
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(1002012, "invalid_scope",
                             f"The provided value for scope {' '.join(scopes)} is not valid. "
                             "Client credential flows must have a scope value with /.default "
                             "suffixed to the resource identifier (application ID URI).")
        resource = scopes[0].removesuffix("/.default")
        tid = self._tenant_id(tenant)
        withheld = self._withheld.get(tid, set())
        roles = [r for r in self.app_roles.get(resource, ()) if r not in withheld]
        claims = {"aud": resource, "tid": tid, "appid": client_id, "azp": client_id,
                  "appidacr": "1", "idtyp": "app", "oid": _sub(client_id, tid),
                  "sub": _sub(client_id, tid), "roles": roles,
                  "ver": "1.0", "uti": secrets.token_urlsafe(16)}
        # Like Entra's documented response: no scope, no refresh token.
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": self.issuer.issue(claims, lifetime=self.token_lifetime)}

    def _on_behalf_of(self, client_id: str, form: dict[str, str]) -> dict:
        user = self._verify_assertion(form.get("assertion", ""), client_id)
        self._check_user(user["oid"], client_id)
        return self._user_tokens(client_id, user, _scopes(form), form)

    def _refresh_token(self, client_id: str, form: dict[str, str]) -> dict:
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            raise EntraError(9002313, "invalid_grant",
                             "Invalid request. Request is malformed or invalid.")
        self._check_user(grant.user["oid"], client_id)
        return self._user_tokens(client_id, grant.user, _scopes(form), form)

    def _verify_assertion(self, assertion: str, client_id: str) -> dict[str, Any]:
        try:
            claims = self.issuer.verify(assertion, audience=self.audiences_for(client_id))
        except jwt.ExpiredSignatureError:
            raise EntraError(500133, "invalid_grant",
                             "Assertion is not within its valid time range. Ensure that the "
                             "access token is not expired before using it for user assertion, "
                             f"or request a new token. Current time: {_utc_now()}.") from None
        except jwt.InvalidAudienceError:
            raise EntraError(50013, "invalid_grant",
                             "Assertion failed validation. [Reason - The audience of the "
                             "assertion does not match the client application.]") from None
        except jwt.InvalidSignatureError:  # a DecodeError subclass: must come first
            raise _bad_signature() from None
        except jwt.DecodeError:
            raise EntraError(50027, "invalid_request",
                             "JWT token is invalid or malformed.") from None
        except jwt.InvalidTokenError:  # unknown key, not yet valid …
            raise _bad_signature() from None
        if not claims.get("oid") or not claims.get("tid"):
            # OBO works only for user principals; an app token has no user to act for.
            raise EntraError(50013, "invalid_grant",
                             "Assertion is invalid. [Reason - the token does not represent a "
                             "user.]")
        return {k: claims[k] for k in ("oid", "tid", "name", "preferred_username", "upn", "idp")
                if claims.get(k)}

    def _check_user(self, oid: str, client_id: str) -> None:
        if oid in self._consent_required:
            raise _no_consent(client_id)
        claims = self._interaction_required.get(oid)
        if claims is not None:
            raise EntraError(50079, "interaction_required",
                             "Due to a configuration change made by your administrator, or "
                             "because you moved to a new location, you must enroll in "
                             f"multi-factor authentication to access '{GRAPH_RESOURCE}'.",
                             claims=claims)

    def _user_tokens(self, client_id: str, user: dict[str, Any], scopes: list[str],
                     form: dict[str, str]) -> dict[str, Any]:
        tid, oid = user["tid"], user["oid"]
        resource, granted = self._resource_scopes(scopes, tid, client_id)
        access: dict[str, Any] = {"aud": resource, "tid": tid, "oid": oid, "sub": _sub(oid, client_id),
                  "scp": " ".join(granted), "appid": client_id, "azp": client_id,
                  "appidacr": "1", "idtyp": "user", "ver": "1.0",
                  "uti": secrets.token_urlsafe(16),
                  **{k: user[k] for k in ("name", "upn", "idp") if k in user}}
        if "upn" not in access and "preferred_username" in user:
            access["upn"] = user["preferred_username"]
        response: dict[str, Any] = {
            "token_type": "Bearer", "scope": " ".join(f"{resource}/{s}" for s in granted),
            "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
            "access_token": self.issuer.issue(access, lifetime=self.token_lifetime)}
        if "offline_access" in scopes:
            refresh_token = secrets.token_urlsafe(48)
            self._refresh[refresh_token] = _RefreshGrant(client_id, user)
            response["refresh_token"] = refresh_token
        if "openid" in scopes:
            response["id_token"] = self.issuer.issue(
                {"aud": client_id, "tid": tid, "oid": oid, "sub": _sub(oid, client_id),
                 "ver": "2.0", "name": user.get("name", ""),
                 "preferred_username": user.get("preferred_username") or user.get("upn", "")},
                lifetime=self.token_lifetime)
        if form.get("client_info") == "1":
            response["client_info"] = _b64u_json({"uid": oid, "utid": tid})
        return response

    def _resource_scopes(self, scopes: list[str], tenant_id: str, client_id: str) -> tuple[str, list[str]]:
        """'https://graph.microsoft.com/OnlineMeetings.ReadWrite offline_access openid' ->
        ('https://graph.microsoft.com', ['OnlineMeetings.ReadWrite']). A named scope the tenant
        has not consented to is AADSTS65001; `.default` grants only what was consented."""
        qualified = [s for s in scopes if s not in OIDC_SCOPES]
        resources = {s.rsplit("/", 1)[0] if "/" in s else GRAPH_RESOURCE for s in qualified}
        if len(resources) > 1:
            raise EntraError(28000, "invalid_scope",
                             "Provided value for the input parameter scope is not valid because "
                             "it contains more than one resource.")
        resource = resources.pop() if resources else GRAPH_RESOURCE
        withheld = self._withheld.get(tenant_id.lower(), set())
        names: list[str] = []
        for scope in qualified or [f"{GRAPH_RESOURCE}/.default"]:
            name = scope.rsplit("/", 1)[-1]
            if name in withheld:
                raise _no_consent(client_id)
            if name == ".default":
                names.extend(s for s in self.delegated_scopes if s not in withheld)
            else:
                names.append(name)
        return resource, list(dict.fromkeys(names))

    def _tenant_id(self, tenant: str) -> str:
        if _GUID.match(tenant):
            return tenant.lower()
        if tenant.lower() == "botframework.com":
            return BOTFRAMEWORK_TENANT
        return self.app_tenant


ENTRA_SIM = web.AppKey("entra_sim", EntraSim)


def create_entra_app(issuer: LocalIssuer, *, clients: dict[str, str],
                     app_id_uris: dict[str, set[str]] | None = None,
                     app_roles: dict[str, tuple[str, ...]] | None = None,
                     endorsements: tuple[str, ...] = DEFAULT_ENDORSEMENTS,
                     token_lifetime: int = 3600) -> web.Application:
    """The Entra ID simulator. `clients` registers confidential clients (id -> secret);
    `app_id_uris` adds Application ID URIs beyond `api://botid-{id}` and `api://{id}`;
    `app_roles` are the application permissions granted per resource (client credentials)."""
    sim = EntraSim(issuer=issuer, clients=dict(clients), app_id_uris=app_id_uris or {},
                   app_roles=app_roles or {}, endorsements=endorsements,
                   token_lifetime=token_lifetime)
    app = web.Application(middlewares=[_count_requests])
    app[ENTRA_SIM] = sim
    app.router.add_get("/common/discovery/instance", _instance_discovery)
    app.router.add_get("/v1/.well-known/openidconfiguration", _channel_openid)
    app.router.add_get("/v1/.well-known/keys", _keys)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", _openid)
    app.router.add_get("/{tenant}/discovery/v2.0/keys", _keys)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", _token)
    return app


def grant_kind(form: dict[str, str]) -> str:
    grant_type = form.get("grant_type", "")
    if grant_type in ("client_credentials", "refresh_token"):
        return grant_type
    if grant_type == JWT_BEARER and form.get("requested_token_use") == "on_behalf_of":
        return "on_behalf_of"
    return "unsupported"


@web.middleware
async def _count_requests(request: web.Request, handler) -> web.StreamResponse:
    request.app[ENTRA_SIM].requests += 1
    return await handler(request)


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _tenant(request: web.Request) -> str:
    tenant = request.match_info["tenant"]
    if _GUID.match(tenant) or tenant.lower() in _TENANT_ALIASES or "." in tenant:
        return tenant
    raise web.HTTPBadRequest(
        text=json.dumps(EntraError(90002, "invalid_tenant", f"Tenant '{tenant}' not found.")
                        .body()), content_type="application/json")


async def _openid(request: web.Request) -> web.Response:
    sim = request.app[ENTRA_SIM]
    return web.json_response(sim.openid_configuration(_base(request), _tenant(request)))


async def _keys(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENTRA_SIM].jwks())


async def _channel_openid(request: web.Request) -> web.Response:
    base = _base(request)
    return web.json_response({
        "issuer": CHANNEL_ISSUER,
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": f"{base}/v1/.well-known/keys",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"]})


async def _instance_discovery(request: web.Request) -> web.Response:
    """MSAL asks whether `authorization_endpoint` is a known authority; this one always is."""
    endpoint = request.query.get("authorization_endpoint", "")
    parts = endpoint.split("/")
    tenant = parts[3] if len(parts) > 3 and parts[3] else "common"
    host = request.host.split(":")[0]
    return web.json_response({
        "tenant_discovery_endpoint":
            f"{_base(request)}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})


async def _token(request: web.Request) -> web.Response:
    sim = request.app[ENTRA_SIM]
    tenant = _tenant(request)
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    stall = sim.take_stall(grant_kind(form))
    if stall:
        await asyncio.sleep(stall)
    try:
        return web.json_response(sim.token(tenant, form, _basic_auth(request),
                                           f"{_base(request)}/{tenant}/oauth2/v2.0/token"))
    except EntraError as exc:
        return web.json_response(exc.body(), status=exc.status)


def _basic_auth(request: web.Request) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1 client authentication (accepted by Entra as well)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _scopes(form: dict[str, str]) -> list[str]:
    return form.get("scope", "").split()


def _sub(principal: str, audience: str) -> str:
    """A stable pairwise subject, like Entra's (differs per app)."""
    return base64.urlsafe_b64encode(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{principal}|{audience}").bytes).rstrip(b"=").decode()


def _no_consent(client_id: str) -> EntraError:
    """AADSTS65001 as on-behalf-of answers it ("Microsoft Entra authentication and authorization
    error codes"; the OBO page's consent section)."""
    return EntraError(65001, "invalid_grant",
                      "The user or administrator has not consented to use the application with ID "
                      f"'{client_id}' named 'MeetBot'. Send an interactive authorization request for "
                      "this user and resource.", suberror="consent_required")


def _unknown_client(client_id: str, tenant: str) -> EntraError:
    return EntraError(700016, "unauthorized_client",
                      f"Application with identifier '{client_id}' was not found in the "
                      f"directory '{tenant}'.")


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bad_signature() -> EntraError:
    return EntraError(50013, "invalid_grant", "Assertion failed signature validation. "
                      "[Reason - The key was not found.]")


def _b64u_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _utc_now() -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
