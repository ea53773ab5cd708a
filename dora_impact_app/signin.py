"""The secrets file Streamlit's st.login reads for `[dashboard.auth]` (an `[auth]` table of a
secrets.toml), made by `dora-impact dashboard` in process before it starts the server.

The config file holds nothing secret: the client secret and the cookie-signing secret come
from the environment variables `[dashboard.auth]` names. The file is written mode 0600 into a
private temporary folder the command removes when the server stops, and handed to the server
through `--secrets.files`. Without `[dashboard.auth]` nothing is written and nobody signs in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dora_impact_app.dashboard_settings import AuthSettings
from warehouse.errors import UserError


def secrets_toml(auth: AuthSettings, env: Mapping[str, str]) -> str:
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


def write_secrets_file(auth: AuthSettings | None, out: Path, env: Mapping[str, str]) -> bool:
    """Write the secrets file for `auth`; False (nothing written) when sign-in is off."""
    if auth is None:
        return False
    text = secrets_toml(auth, env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return True
