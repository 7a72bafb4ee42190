"""Signing keys and JWTs for the local Microsoft cloud.

One `LocalIssuer` stands for an Entra ID tenant's signing authority: the Entra ID simulator
issues tokens with it and publishes its JWKS, the Graph simulator and the Bot Connector
simulator verify bearer tokens with it, and tests use it to mint the tokens Teams would send.
Tokens are real RS256 JWTs with a `kid`, so real validators (botbuilder, PyJWT) accept them.
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def _b64u(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class LocalIssuer:
    """An RSA key pair (or several, for rotation) that signs and verifies JWTs."""

    def __init__(self, issuer: str = "https://login.local/common/v2.0", key_bits: int = 2048) -> None:
        self.issuer = issuer
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current_kid = self.rotate(key_bits)

    def rotate(self, key_bits: int = 2048) -> str:
        """Adds a new signing key and makes it current; old keys stay published."""
        kid = uuid.uuid4().hex[:16]
        self._keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
        self.current_kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys.items():
            pub = key.public_key().public_numbers()
            keys.append({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                         "n": _b64u(pub.n), "e": _b64u(pub.e)})
        return {"keys": keys}

    def issue(self, claims: dict[str, Any], *, lifetime: int = 3600, issuer: str | None = None,
              kid: str | None = None, signing_key: rsa.RSAPrivateKey | None = None) -> str:
        """Signs `claims` (plus iat/nbf/exp/iss unless given). `signing_key` lets a test sign
        with a key this issuer does not publish (a forged token)."""
        now = int(time.time())
        body = {"iat": now, "nbf": now, "exp": now + lifetime, "iss": issuer or self.issuer}
        body.update(claims)
        kid = kid or self.current_kid
        key = signing_key or self._keys[kid]
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    def verify(self, token: str, *, audience: str | list[str] | None = None,
               issuer: str | list[str] | None = None, leeway: int = 60) -> dict[str, Any]:
        """Returns the claims or raises `jwt.InvalidTokenError` (bad signature, expired,
        wrong audience or issuer, unknown kid)."""
        header = jwt.get_unverified_header(token)
        key = self._keys.get(header.get("kid", ""))
        if key is None:
            raise jwt.InvalidTokenError("unknown signing key")
        options: Any = {"verify_aud": audience is not None, "verify_iss": issuer is not None}
        return jwt.decode(token, key.public_key(), algorithms=["RS256"], audience=audience,
                          issuer=issuer, leeway=leeway, options=options)

    @staticmethod
    def public_key_from_jwk(jwk: dict[str, Any]) -> Any:
        return RSAAlgorithm.from_jwk(jwk)
