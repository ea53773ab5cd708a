"""Optional sign-in (`[dashboard.auth]`): Streamlit's OpenID Connect login, st.login.

Streamlit reads the provider from an `[auth]` table of a secrets.toml, which
`dora-impact dashboard` writes in process before serving (dora_impact_app/signin.py). Here:
the gate every page passes, and who may pass it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dora_impact_app.config import load_config
from dora_impact_app.dashboard_settings import AuthSettings
from dora_impact_app.signin import secrets_toml, write_secrets_file

__all__ = ["allowed", "gate", "secrets_toml", "write_secrets"]


def write_secrets(config: str, out: Path, env: dict[str, str]) -> bool:
    """Write the secrets file for the config file's [dashboard.auth]; False when there is none."""
    return write_secrets_file(load_config(config).dashboard.auth, out, env)


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
