"""Optional sign-in (`[dashboard.auth]`): Streamlit's OpenID Connect login, st.login.

Streamlit reads the provider from an `[auth]` table of a secrets.toml. The config file holds
nothing secret, so `dora-impact dashboard` runs `python -m dashboards.auth CONFIG OUT` first:
it validates `[dashboard.auth]`, takes the client secret and the cookie-signing secret from
the environment variables it names, and writes OUT (mode 0600, in a private temporary folder
the command removes when the server stops), which the server reads through
`--secrets.files`. Without `[dashboard.auth]` nothing is written and nobody signs in (the
default, for local use). Exit 2 with one line on a bad section or a missing variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from dashboards.settings import AuthSettings, load_settings
from warehouse.errors import UserError


def secrets_toml(auth: AuthSettings, env: dict[str, str]) -> str:
    """The [auth] table Streamlit's st.login reads, with the secrets from `env`."""
    values = {}
    for variable, what in ((auth.client_secret_env, "the OIDC client secret"),
                           (auth.cookie_secret_env, "the secret that signs the login cookie")):
        if not env.get(variable):
            raise UserError(f"[dashboard.auth] needs the environment variable {variable} ({what})")
        values[variable] = env[variable]

    def q(value: str) -> str:  # a TOML basic string
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join([
        "[auth]",
        f"redirect_uri = {q(auth.redirect_uri)}",
        f"cookie_secret = {q(values[auth.cookie_secret_env])}",
        "",
        f"[auth.{auth.provider}]",
        f"client_id = {q(auth.client_id)}",
        f"client_secret = {q(values[auth.client_secret_env])}",
        f"server_metadata_url = {q(auth.server_metadata_url)}",
        "",
    ])


def write_secrets(config: str, out: Path, env: dict[str, str]) -> bool:
    """Write the secrets file for the config's [dashboard.auth]; False when there is none."""
    auth = load_settings(config).dashboard.auth
    if auth is None:
        return False
    text = secrets_toml(auth, env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def allowed(auth: AuthSettings, email: str | None) -> bool:
    if not auth.allowed_domains and not auth.allowed_emails:
        return True
    email = (email or "").lower()
    domain = email.rsplit("@", 1)[-1] if "@" in email else None
    return email in {e.lower() for e in auth.allowed_emails} or domain in {
        d.lower() for d in auth.allowed_domains}


def gate(auth: AuthSettings | None) -> None:
    """Stop the page unless the visitor is signed in (and allowed), when sign-in is on."""
    if auth is None:
        return
    if not st.user.is_logged_in:
        st.title("dora-impact")
        st.write("Sign in to see the delivery metrics.")
        st.button(f"Sign in with {auth.provider.title()}", on_click=st.login, args=(auth.provider,),
                  type="primary")
        st.stop()
    email = st.user.get("email")
    with st.sidebar:
        st.caption(f"Signed in as {email or st.user.get('name') or 'unknown'}")
        st.button("Sign out", on_click=st.logout)
    if not allowed(auth, email):
        st.error(f"{email} may not see this dashboard ([dashboard.auth] allowed_domains, allowed_emails).")
        st.stop()


def main(argv: list[str]) -> int:
    config, out = argv
    try:
        write_secrets(config, Path(out), dict(os.environ))
    except UserError as exc:
        print(f"dora-impact: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
