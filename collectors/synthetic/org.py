"""The demo org's shape: its teams, their repositories, how busy each is, and its people."""

from __future__ import annotations

import polars as pl

OWNER = "acme"

# Team -> repositories (without the owner). 20 teams, 81 repositories. The teams after
# "platform" joined the demo later: appended, so that the earlier teams keep their draws.
TEAM_REPOS: dict[str, tuple[str, ...]] = {
    "checkout": ("checkout-api", "checkout-web", "cart-service", "promo-engine"),
    "payments": ("payments-api", "payments-gateway", "ledger", "fraud-scoring"),
    "search": ("search-api", "search-indexer", "ranking-service", "autocomplete"),
    "catalog": ("catalog-api", "catalog-admin", "pricing-service", "inventory-sync"),
    "identity": ("identity-api", "auth-gateway", "user-profile", "sso-bridge"),
    "growth": ("growth-experiments", "landing-pages", "referral-service", "web-storefront"),
    "mobile": ("mobile-bff", "ios-app-config", "android-app-config", "feature-flags"),
    "fulfilment": ("fulfilment-api", "shipping-rates", "returns-service", "order-router"),
    "notifications": ("notifications-api", "email-sender", "push-service", "sms-relay"),
    "data": ("events-pipeline", "warehouse-loader", "reporting-api", "ml-features"),
    "support": ("helpdesk-api", "support-portal", "chat-widget", "knowledge-base"),
    "platform": ("deploy-pipeline", "infra-modules", "service-catalog", "observability-stack",
                 "k8s-config"),
    "billing": ("billing-api", "invoice-renderer", "tax-service", "subscriptions"),
    "marketplace": ("seller-api", "seller-portal", "listings-sync", "commission-service"),
    "loyalty": ("loyalty-api", "rewards-engine", "vouchers", "member-web"),
    "content": ("cms-api", "media-service", "editorial-tools", "localisation"),
    "partners": ("partner-api", "affiliate-tracker", "webhooks-relay", "partner-portal"),
    "security": ("secrets-broker", "audit-log", "waf-rules", "vuln-scanner"),
    "ads": ("ads-api", "ad-server", "campaign-manager", "bidding-service"),
    "risk": ("risk-api", "kyc-checks", "sanctions-screening", "chargebacks"),
}

# How often each team's repositories deploy, relative to each other. The deploy platform's
# adopters are the busy product teams, as platform roll-outs usually start with them (and the
# larger the adopters' volume, the tighter the estimates of the effect).
TEAM_CADENCE: dict[str, float] = {
    "checkout": 1.4, "payments": 1.2, "search": 1.3, "catalog": 1.1, "identity": 1.0,
    "growth": 1.2, "mobile": 0.8, "fulfilment": 1.0, "notifications": 0.9, "data": 0.8,
    "support": 0.7, "platform": 0.9, "billing": 1.0, "marketplace": 1.2, "loyalty": 0.9,
    "content": 0.9, "partners": 0.8, "security": 0.7, "ads": 1.0, "risk": 0.8,
}

# Team -> first names; a person's login is "<name>.<team>" (see PEOPLE).
ROSTER: dict[str, tuple[str, ...]] = {
    "checkout": ("alice", "bruno", "chen", "dana", "emil", "fatima", "gus"),
    "payments": ("hana", "ivan", "jonas", "kemi", "lars", "mira"),
    "search": ("nadia", "omar", "petra", "quinn", "rosa", "sven", "tariq"),
    "catalog": ("uma", "victor", "wen", "xavier", "yara", "zoe"),
    "identity": ("aiko", "bilal", "carla", "dev", "elena", "farid"),
    "growth": ("greta", "hugo", "ines", "jamal", "kira", "leo", "maya"),
    "mobile": ("nils", "olga", "pablo", "rania", "sami", "tess"),
    "fulfilment": ("ugo", "vera", "wyatt", "ximena", "yusuf", "zara"),
    "notifications": ("amir", "beth", "cyril", "dora", "ezra", "flora"),
    "data": ("gia", "hiro", "ida", "joel", "kai", "lena", "marek"),
    "support": ("nora", "oscar", "pia", "raj", "sofia", "theo"),
    "platform": ("adele", "boris", "clara", "diego", "eva", "felix", "gwen", "henrik"),
    "billing": ("aron", "bea", "cosmin", "delia", "enzo", "freya"),
    "marketplace": ("gael", "helga", "ilan", "juno", "kasia", "luca", "mina"),
    "loyalty": ("noah", "opal", "piet", "rhea", "silas", "tara"),
    "content": ("umar", "vesna", "willa", "xena", "yosef", "zelda"),
    "partners": ("anouk", "basil", "cleo", "darius", "esme", "finn"),
    "security": ("gita", "hamid", "isla", "jaro", "kofi", "lumi"),
    "ads": ("ansel", "brigit", "caio", "dunja", "eero", "fenna"),
    "risk": ("gerd", "hanne", "ilse", "jules", "konstantin", "liv"),
}

PEOPLE: dict[str, str] = {
    f"{name}.{team}": team for team, names in ROSTER.items() for name in names
}
"""Every author and reviewer login -> their team. Logins end in ".<team>" as well."""


def people_teams() -> pl.DataFrame:
    """login -> team for every person of the demo org (for counting cross-team reviews)."""
    return pl.DataFrame({"login": list(PEOPLE), "team": list(PEOPLE.values())})
