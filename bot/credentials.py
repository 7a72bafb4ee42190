"""The bot's own credential: what proves to Entra ID that a token request comes from MeetBot.

One of four, chosen by the settings (README "Identity choices"):
- a client secret (`MicrosoftAppPassword`);
- a certificate (`MicrosoftAppCertificatePath`): MSAL signs a client assertion with its private
  key ("Microsoft identity platform application authentication certificate credentials");
- a federated identity credential (`MicrosoftAppClientId`, botbuilder's name for it): the app
  registration trusts a user-assigned managed identity, whose token for
  `api://AzureADTokenExchange` is the client assertion ("Configure an application to trust a
  managed identity");
- the managed identity itself (`MicrosoftAppType=UserAssignedMSI`): no app registration; its
  tokens come from the host's identity endpoint, for the Bot Connector and app-only Graph.

The certificate is read once at start-up, so a wrong file is a configuration error, not a failed
turn. PEM (certificate and unencrypted key, in one file or two) and PKCS#12 without a password
(what App Service writes to /var/ssl/private/{thumbprint}.p12 for a certificate named in
WEBSITE_LOAD_CERTIFICATES: "Use a TLS/SSL certificate in your code in Azure App Service").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

# The audience of a managed identity's token used as a federated client assertion (public
# cloud; "Configure an application to trust a managed identity").
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


class CredentialKind(str, Enum):
    NONE = "none"  # demo mode
    SECRET = "secret"
    CERTIFICATE = "certificate"
    FEDERATED = "federated"  # app registration + a managed identity it trusts
    MANAGED_IDENTITY = "managed_identity"  # the managed identity is the bot


class CertificateError(ValueError):
    """The certificate file cannot serve as the app's credential; the message says why."""


@dataclass(frozen=True)
class ClientCertificate:
    private_key_pem: str = field(repr=False)
    certificate_pem: str
    sha1_thumbprint: str  # upper-case hex: what the Entra admin center shows
    not_after: datetime

    def msal_credential(self) -> dict[str, str]:
        """MSAL's certificate credential. Without a "thumbprint" MSAL (1.35+) computes the
        SHA-256 one from the certificate and signs PS256 with `x5t#S256`: the form the current
        "certificate credentials" page documents."""
        return {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}


@dataclass(frozen=True)
class BotCredential:
    kind: CredentialKind = CredentialKind.NONE
    secret: str = field(default="", repr=False)
    certificate: ClientCertificate | None = None
    identity_client_id: str = ""  # FEDERATED: the trusted identity; MANAGED_IDENTITY: the bot

    @property
    def uses_managed_identity(self) -> bool:
        return self.kind in (CredentialKind.FEDERATED, CredentialKind.MANAGED_IDENTITY)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise CertificateError(f"{what}={path!r} cannot be read ({err.strerror or err}).") from None


def _private_key(data: bytes, what: str, path: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise CertificateError(f"{what}={path!r}: the private key is encrypted; MeetBot reads an "
                               "unencrypted key (keep the file readable by the bot only).") from None
    except ValueError:
        raise CertificateError(f"{what}={path!r} holds no PEM private key.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"{what}={path!r}: the key is not RSA; Entra ID client "
                               "assertions are signed with RSA (RS256/PS256).")
    return key


def load_certificate(path: str, key_path: str = "", thumbprint: str = "", *,
                     now: datetime | None = None) -> ClientCertificate:
    """Reads and checks the app's certificate: raises CertificateError with one sentence."""
    data = _read(path, "MicrosoftAppCertificatePath")
    key: object
    if data.lstrip().startswith(b"-----"):
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise CertificateError(f"MicrosoftAppCertificatePath={path!r} holds no PEM "
                                   "certificate.") from None
        if key_path:
            key = _private_key(_read(key_path, "MicrosoftAppCertificateKeyPath"),
                               "MicrosoftAppCertificateKeyPath", key_path)
        else:
            key = _private_key(data, "MicrosoftAppCertificatePath", path)
    else:  # PKCS#12 (.pfx, .p12)
        try:
            pkcs_key, first, more = pkcs12.load_key_and_certificates(data, None)
        except ValueError:
            raise CertificateError(f"MicrosoftAppCertificatePath={path!r} is neither PEM nor a "
                                   "PKCS#12 file without a password.") from None
        if not isinstance(pkcs_key, rsa.RSAPrivateKey):
            raise CertificateError(f"MicrosoftAppCertificatePath={path!r} holds no RSA private "
                                   "key.")
        key, certs = pkcs_key, [c for c in (first, *more) if c is not None]
    assert isinstance(key, rsa.RSAPrivateKey)
    public = key.public_key().public_numbers()
    mine = [c for c in certs if isinstance(c.public_key(), rsa.RSAPublicKey)
            and c.public_key().public_numbers() == public]  # type: ignore[union-attr]
    if not mine:
        raise CertificateError(f"MicrosoftAppCertificatePath={path!r}: no certificate there "
                               "matches the private key.")
    cert = mine[0]
    sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's thumbprint is SHA-1
    wanted = thumbprint.replace(":", "").replace(" ", "").upper()
    if wanted and wanted != sha1:
        raise CertificateError(f"MicrosoftAppCertificateThumbprint={thumbprint!r} is not the "
                               f"thumbprint of {path!r} ({sha1}): is it the right file?")
    not_after = cert.not_valid_after_utc
    if not_after <= (now or datetime.now(UTC)):
        raise CertificateError(f"MicrosoftAppCertificatePath={path!r}: the certificate expired "
                               f"on {not_after:%Y-%m-%d}; Entra ID refuses it. Upload a new one "
                               "to the app registration and point this setting at it.")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ClientCertificate(key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(),
                             sha1, not_after)
