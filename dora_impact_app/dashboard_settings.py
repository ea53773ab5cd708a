"""`[dashboard]`: the dashboard's own section (optional sign-in, `[dashboard.auth]`,
docs/dashboard.md), defined here so that the one config model (config.py) validates it with
every other section; the dashboard reads it from that model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AuthSettings(BaseModel):
    """`[dashboard.auth]`: sign-in through an OpenID Connect provider (Streamlit's st.login).
    Nothing secret here: the client secret and the cookie-signing secret come from the
    environment variables named."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field("google", pattern=r"^[a-z][a-z0-9_]*$")  # the label on the button
    client_id: str
    server_metadata_url: str = Field(pattern=r"^https?://")  # .../.well-known/openid-configuration
    redirect_uri: str = Field(pattern=r"^https?://.+/oauth2callback$")
    client_secret_env: str = "DORA_IMPACT_OIDC_CLIENT_SECRET"
    cookie_secret_env: str = "DORA_IMPACT_COOKIE_SECRET"
    # Who may see the data once signed in (empty: anyone the provider signs in).
    allowed_domains: list[str] = Field(default_factory=list)
    allowed_emails: list[str] = Field(default_factory=list)


class DashboardSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auth: AuthSettings | None = None
