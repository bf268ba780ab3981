"""Helpers of the API tests: settings on the integration database, API keys."""

import sqlalchemy as sa

from db.api_keys import create_key
from tests.conftest import KAFKA, TEST_BROKER_URL
from webapp.settings import WebSettings


def make_settings(database_url: str, **overrides: object) -> WebSettings:
    """Settings on the integration database; rate limits counted in the test Redis db."""
    base = {
        "database_url": database_url,
        "redis_url": TEST_BROKER_URL,
        "kafka_bootstrap_servers": KAFKA,
        # Every lookup goes to PostgreSQL unless a test is about the key cache itself.
        "auth_cache_ttl_s": 0,
    }
    base.update(overrides)
    return WebSettings(**base)  # type: ignore[arg-type]


def new_key(
    engine: sa.Engine,
    tenant: str = "acme",
    scopes: tuple[str, ...] = ("submit", "read"),
    rate_limit: str | None = None,
) -> str:
    """A fresh API key of `tenant`."""
    with engine.begin() as conn:
        key, _ = create_key(
            conn, name="test", tenant=tenant, scopes=list(scopes), rate_limit=rate_limit
        )
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
