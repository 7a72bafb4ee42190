"""Local TLS for the local Microsoft cloud: a throw-away test CA (made with `trustme`).

MSAL refuses authorities that are not https, and botbuilder fetches OpenID metadata with
`requests`, so the Entra ID simulator must speak TLS with a certificate the clients trust:
- servers: `server_ssl_context()` (certificate for 127.0.0.1 and localhost);
- `requests` (MSAL, botbuilder): `requests_session()` (verify=ca_path, trust_env off) as MSAL's
  `http_client`, or REQUESTS_CA_BUNDLE=ca_path for code that builds its own sessions
  (botbuilder's OpenID metadata reader, `MicrosoftAppCredentials`' default MSAL client);
- aiohttp clients: `client_ssl_context()`.
"""
from __future__ import annotations

import shutil
import ssl
import tempfile
import weakref
from pathlib import Path

import requests
import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost")


class LocalTLS:
    """A CA and one server certificate, created in memory; the CA certificate is also written
    to a private temp directory (removed when this object is closed or collected)."""

    def __init__(self, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> None:
        self._ca = trustme.CA()
        self._server_cert = self._ca.issue_cert(*hosts)
        self._dir = Path(tempfile.mkdtemp(prefix="localcloud-tls-"))
        self.ca_path = str(self._dir / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)

    def server_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_cert.configure_cert(ctx)
        return ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx

    def requests_session(self) -> requests.Session:
        """A `requests` session that trusts this CA (e.g. MSAL's `http_client`).

        `trust_env` is off because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override
        `session.verify` (and proxy variables must not capture loopback calls)."""
        session = requests.Session()
        session.verify = self.ca_path
        session.trust_env = False
        return session

    def close(self) -> None:
        self._cleanup()
