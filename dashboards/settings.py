"""The config sections the dashboard reads: the metric rules, the initiatives and its own
`[dashboard]` section (optional sign-in, `[dashboard.auth]`, docs/dashboard.md).

The dashboard is a room of its own beside the shell, so it reads the config file through the
warehouse's loader into this model rather than importing the shell. Other sections are
ignored here: `dora-impact dashboard` has already validated the whole file before serving.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from warehouse.config import MetricsConfig
from warehouse.impact.config import InitiativeConfig
from warehouse.validation import read_toml_config


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    initiatives: list[InitiativeConfig] = Field(default_factory=list)
    dashboard: DashboardSection = Field(default_factory=lambda: DashboardSection())


def load_settings(path: str | None) -> DashboardSettings:
    return read_toml_config(Path(path), DashboardSettings) if path else DashboardSettings()


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

