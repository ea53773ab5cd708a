"""Optional sign-in ([dashboard.auth]): the secrets file Streamlit's st.login reads is made
from the config and the environment, and a served dashboard asks a visitor to sign in with the
provider (a local OpenID Connect provider's metadata) before it shows any number."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from dashboards.auth import allowed, secrets_toml, write_secrets
from dashboards.settings import AuthSettings
from tests.browser import CHROMIUM, browser_page, dashboard
from tests.conftest import run_cli, write
from warehouse import Warehouse
from warehouse.errors import UserError

ENV = {"DORA_IMPACT_OIDC_CLIENT_SECRET": "s3cr\"et", "DORA_IMPACT_COOKIE_SECRET": "cookie-signing-secret"}


def auth_block(metadata: str, port: int = 8501) -> str:
    return f"""
[dashboard.auth]
provider = "google"
client_id = "dora-impact.apps.example"
server_metadata_url = "{metadata}"
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
allowed_domains = ["acme.example"]
"""


def test_the_secrets_file_holds_what_st_login_reads(tmp_path):
    config = write(tmp_path / "dora.toml", auth_block("https://accounts.google.com/.well-known/openid-configuration"))
    out = tmp_path / "secrets.toml"
    assert write_secrets(str(config), out, ENV)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert tomllib.loads(out.read_text()) == {"auth": {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "cookie-signing-secret",
        "google": {"client_id": "dora-impact.apps.example", "client_secret": 's3cr"et',
                   "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"},
    }}
    # No section, no file: nobody signs in (the default).
    assert not write_secrets(str(write(tmp_path / "plain.toml", "[metrics]\n")), tmp_path / "none.toml", ENV)
    assert not (tmp_path / "none.toml").exists()


def test_a_missing_secret_is_named():
    auth = AuthSettings(client_id="x", server_metadata_url="https://x/.well-known/openid-configuration",
                        redirect_uri="http://localhost:8501/oauth2callback")
    with pytest.raises(UserError, match="DORA_IMPACT_COOKIE_SECRET"):
        secrets_toml(auth, {"DORA_IMPACT_OIDC_CLIENT_SECRET": "a"})
    assert allowed(auth, None)  # no restriction
    limited = auth.model_copy(update={"allowed_domains": ["acme.example"], "allowed_emails": ["Ann@Other.org"]})
    assert allowed(limited, "bob@acme.example") and allowed(limited, "ann@other.org")
    assert not allowed(limited, "eve@evil.example") and not allowed(limited, None)


def test_the_command_refuses_to_serve_without_the_secrets(tmp_path):
    db = tmp_path / "dora.duckdb"
    Warehouse(db).close()
    config = write(tmp_path / "dora.toml", auth_block("https://accounts.google.com/.well-known/openid-configuration"))
    env = {k: "" for k in ENV}
    done = run_cli("--config", str(config), "dashboard", "--port", "8999", db=db, env=env)
    assert done.code == 2
    assert done.stderr.strip().splitlines() == [
        "dora-impact: [dashboard.auth] needs the environment variable DORA_IMPACT_OIDC_CLIENT_SECRET "
        "(the OIDC client secret)"]
    bad = write(tmp_path / "bad.toml", auth_block("https://x/").replace("/oauth2callback", "/callback"))
    done = run_cli("--config", str(bad), "dashboard", "--port", "8999", db=db, env=ENV)
    assert done.code == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "redirect_uri" in done.stderr


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_a_visitor_signs_in_with_the_provider_before_seeing_any_number(tmp_path, httpserver, monkeypatch):
    base = httpserver.url_for("")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json({
        "issuer": base.rstrip("/"),
        "authorization_endpoint": httpserver.url_for("/authorize"),
        "token_endpoint": httpserver.url_for("/token"),
        "jwks_uri": httpserver.url_for("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    httpserver.expect_request("/authorize").respond_with_data("the provider's sign-in page")
    db = tmp_path / "dora.duckdb"
    Warehouse(db).close()
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    from tests.browser import free_port

    port = free_port()
    config = write(tmp_path / "dora.toml", auth_block(httpserver.url_for("/.well-known/openid-configuration"), port))
    with dashboard(db, config, port=port) as url, browser_page() as page:
        page.goto(url)
        button = page.get_by_role("button", name="Sign in with Google")
        button.wait_for(timeout=120_000)
        assert page.get_by_text("Delivery performance").count() == 0
        button.click()
        page.wait_for_url(f"{httpserver.url_for('/authorize')}*", timeout=60_000)
        query = parse_qs(urlparse(page.url).query)
        assert query["client_id"] == ["dora-impact.apps.example"]
        assert query["redirect_uri"] == [f"http://127.0.0.1:{port}/oauth2callback"]
        assert "openid" in query["scope"][0]
    # The secrets never reached the page, and the private folder is gone with the server.
    assert not [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("dora-impact-*/secrets.toml")]


def test_the_documented_example_is_a_valid_section(tmp_path):
    text = (Path(__file__).parents[1] / "docs" / "dashboard.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = write(tmp_path / "dora.toml", block)
    assert write_secrets(str(config), tmp_path / "secrets.toml", ENV)
    done = run_cli("--config", str(config), "metrics", db=tmp_path / "d.duckdb")  # the shell accepts it
    assert "[dashboard" not in done.stderr
