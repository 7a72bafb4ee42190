"""Start-up configuration: every problem reported at once, one clear line each."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import ConfigError, GraphAuthMode, load_settings

APP = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_credentials_means_demo_mode():
    settings = load_settings({})
    assert settings.demo and not settings.authenticated
    assert settings.port == 3978 and settings.log_format == "text"


def test_real_tenant_settings():
    settings = load_settings({"MicrosoftAppId": APP, "MicrosoftAppPassword": "s3cr3t-value",
                              "BOT_DOMAIN": "meetbot.contoso.com",
                              "ALLOWED_TENANTS": "72F988BF-86F1-41AF-91AB-2D7CD011DB47"})
    assert settings.graph_auth is GraphAuthMode.DELEGATED and settings.authenticated
    assert settings.sso_resource == f"api://botid-{APP}"
    assert settings.public_url == "https://meetbot.contoso.com"
    assert settings.allowed_tenants == {"72f988bf-86f1-41af-91ab-2d7cd011db47"}
    assert settings.log_format == "json"
    assert "s3cr3t-value" not in repr(settings)  # a logged Settings never shows the secret


@pytest.mark.parametrize("env, fragment", [
    ({"MicrosoftAppId": "not-a-guid", "MicrosoftAppPassword": "x", "BOT_DOMAIN": "a.b"},
     "MicrosoftAppId='not-a-guid' is not a GUID"),
    ({"MicrosoftAppId": APP, "BOT_DOMAIN": "a.b"}, "MicrosoftAppPassword is empty"),
    ({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x"}, "BOT_DOMAIN is empty"),
    ({"MicrosoftAppType": "SingleTenant"}, "needs MicrosoftAppTenantId"),
    ({"MicrosoftAppType": "UserAssignedMSI"}, "cannot do on-behalf-of"),
    ({"GRAPH_AUTH_MODE": "app"}, "needs MicrosoftAppId"),
    ({"PORT": "http"}, "PORT='http' is not a number"),
    ({"PORT": "70000"}, "between 1 and 65535"),
    ({"GRAPH_BASE_URL": "graph.local"}, "must start with https://"),
    ({"ALLOWED_TENANTS": "contoso.com"}, "not tenant ids"),
    ({"REDIS_URL": "localhost:6379"}, "must start with redis://"),
    ({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x", "BOT_DOMAIN": "a.b", "WORKERS": "4"},
     "WORKERS=4 needs REDIS_URL"),
    ({"SSL_CA_FILE": "/nonexistent/ca.pem"}, "does not exist"),
])
def test_each_problem_is_named(env, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert any(fragment in p for p in err.value.problems), err.value.problems


def test_all_problems_at_once_and_a_clean_exit_from_app_py():
    env = {"PATH": os.environ["PATH"], "MicrosoftAppId": "nope", "PORT": "x",
           "ALLOWED_TENANTS": "contoso"}
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) >= 4
    assert "Traceback" not in proc.stderr
