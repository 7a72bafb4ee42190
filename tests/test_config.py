"""Start-up configuration: every problem reported at once, one clear line each."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, GraphAuthMode, is_loopback_url, load_settings

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
    ({"MicrosoftAppId": APP, "MicrosoftAppType": "UserAssignedMSI", "BOT_DOMAIN": "a.b",
      "MicrosoftAppTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
     "neither receive them nor exchange them on-behalf-of"),
    ({"GRAPH_AUTH_MODE": "app"}, "needs MicrosoftAppId"),
    ({"PORT": "http"}, "PORT='http' is not a number"),
    ({"PORT": "70000"}, "between 1 and 65535"),
    ({"GRAPH_BASE_URL": "graph.local"}, "must start with https://"),
    ({"ALLOWED_TENANTS": "contoso.com"}, "not tenant ids"),
    ({"REDIS_URL": "localhost:6379"}, "must start with redis://"),
    ({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x", "BOT_DOMAIN": "a.b", "WORKERS": "4"},
     "WORKERS=4 needs REDIS_URL"),
    ({"SSL_CA_FILE": "/nonexistent/ca.pem"}, "does not exist"),
    ({"MEETINGS_ON_CALENDAR": "sometimes"}, "MEETINGS_ON_CALENDAR='sometimes': use scheduled, always or never"),
    ({"STATE_ENCRYPTION_KEY": "hunter2"}, "STATE_ENCRYPTION_KEY: the value is not a Fernet key"),
    ({"STATE_ENCRYPTION_KEY": f"{Fernet.generate_key().decode()},hunter2"},
     "STATE_ENCRYPTION_KEY: value 2 of 2 (comma-separated) is not a Fernet key"),
    ({"STATE_ENCRYPTION_KEY": "é" * 44}, "is not a Fernet key"),
    ({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x", "GRAPH_AUTH_MODE": "app",
      "REDIS_URL": "redis://cache:6379"}, "REDIS_URL is set but STATE_ENCRYPTION_KEY is not"),
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


def test_meetings_on_calendar_defaults_to_scheduled_and_reads_any_case():
    from bot.config import CalendarMode
    assert load_settings({}).meetings_on_calendar is CalendarMode.SCHEDULED
    assert load_settings({"MEETINGS_ON_CALENDAR": " Never "}).meetings_on_calendar is CalendarMode.NEVER
    assert load_settings({"MEETINGS_ON_CALENDAR": "always"}).meetings_on_calendar is CalendarMode.ALWAYS


def test_a_bad_fernet_key_is_named_but_never_shown():
    with pytest.raises(ConfigError) as err:
        load_settings({"STATE_ENCRYPTION_KEY": "not-the-real-key-material"})
    [problem] = err.value.problems
    assert "not-the-real-key-material" not in problem and "Fernet.generate_key" in problem


def test_a_bad_fernet_key_stops_app_py_with_one_line_and_no_traceback():
    env = {"PATH": os.environ["PATH"], "STATE_ENCRYPTION_KEY": "s3cret-but-not-a-key"}
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1 and "STATE_ENCRYPTION_KEY" in lines[0]
    assert "Traceback" not in proc.stderr and "s3cret-but-not-a-key" not in proc.stderr


def test_demo_mode_listens_only_on_this_machine():
    assert load_settings({}).host == "127.0.0.1"
    assert load_settings({"HOST": "0.0.0.0"}).host == "0.0.0.0"  # explicitly asked for
    deployed = load_settings({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x",
                              "BOT_DOMAIN": "meetbot.contoso.com"})
    assert deployed.host == "0.0.0.0"
    assert load_settings({"MicrosoftAppId": APP, "MicrosoftAppPassword": "x",
                          "BOT_DOMAIN": "meetbot.contoso.com", "HOST": "10.0.0.4"}).host == "10.0.0.4"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:3978/", "https://localhost/_connector", "http://LOCALHOST:56150",
    "http://127.8.9.10/v3", "http://[::1]:56150/", "https://[0:0:0:0:0:0:0:1]/",
])
def test_loopback_urls(url):
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", [
    "https://smba.trafficmanager.net/teams/", "http://evil.example/", "http://10.0.0.1/",
    "http://0.0.0.0:3978/", "http://127.0.0.1@evil.example/", "http://evil.example\\@127.0.0.1/",
    "http://localhost.evil.example/", "http://127.0.0.1.nip.io/", "ftp://127.0.0.1/",
    "file:///etc/passwd", "http://127.0.0.1:99999/", "http://127.0.0.1 /", "//127.0.0.1/",
    "http:///x", "", "http://[::ffff:8.8.8.8]/", "http://2130706433/",
])
def test_urls_that_leave_the_machine_or_are_odd(url):
    assert not is_loopback_url(url)
