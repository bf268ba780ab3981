"""`taskctl apikey create|list|revoke|ensure`: API keys (only their hashes are stored)."""

import json
import os
import uuid
from pathlib import Path

import click
from limits import parse_many

from db.api_keys import SCOPES, create_key, find_active_key, list_keys, revoke_key
from db.engine import make_engine
from taskctl.settings import CliSettings


def _scopes(value: str) -> list[str]:
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise click.BadParameter(f"choose from {', '.join(SCOPES)}", param_hint="--scope")
    return list(dict.fromkeys(scopes))


def _rate_limit(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_many(value)
    except ValueError:
        raise click.BadParameter(
            "e.g. '100/second' or '5000/minute'", param_hint="--rate-limit"
        ) from None
    return value


@click.group("apikey")
def apikey() -> None:
    """API keys: each belongs to a tenant and holds scopes (submit, read, admin)."""


@apikey.command("create")
@click.option("--name", required=True, help="What the key is for (shown by `list`).")
@click.option("--tenant", required=True, help="Owner of the tasks this key submits.")
@click.option("--scope", "scope", default="submit,read", show_default=True)
@click.option("--rate-limit", default=None, help="This key's own limit, e.g. '100/second'.")
@click.pass_obj
def create(
    settings: CliSettings, name: str, tenant: str, scope: str, rate_limit: str | None
) -> None:
    """Create a key and print it once; only its SHA-256 is stored."""
    scopes, limit = _scopes(scope), _rate_limit(rate_limit)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            key, record = create_key(
                conn, name=name, tenant=tenant, scopes=scopes, rate_limit=limit
            )
    finally:
        engine.dispose()
    click.echo(f"id:     {record.id}\ntenant: {record.tenant}\nscopes: {','.join(record.scopes)}")
    click.echo(f"key:    {key}\n(shown once: store it now)")


@apikey.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_(settings: CliSettings, tenant: str | None, as_json: bool) -> None:
    """List keys (never their values), revoked ones included."""
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        records = list_keys(conn, tenant)
    engine.dispose()
    for r in records:
        row = {
            "id": str(r.id),
            "name": r.name,
            "tenant": r.tenant,
            "scopes": list(r.scopes),
            "prefix": r.key_prefix,
            "rate_limit": r.rate_limit,
            "created_at": r.created_at.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        if as_json:
            click.echo(json.dumps(row))
        else:
            state = "revoked" if r.revoked_at else "active"
            click.echo(
                f"{row['id']}  {state:7}  {r.tenant:12}  {','.join(r.scopes):18}  "
                f"{r.key_prefix}…  {r.name}"
            )


@apikey.command("revoke")
@click.argument("key_id")
@click.pass_obj
def revoke(settings: CliSettings, key_id: str) -> None:
    """Revoke a key by id; requests with it get 401 from then on."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise click.BadParameter("not a key id", param_hint="KEY_ID") from None
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.begin() as conn:
        revoked = revoke_key(conn, parsed)
    engine.dispose()
    if not revoked:
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


@apikey.command("ensure")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True)
@click.option("--tenant", required=True)
@click.option("--scope", "scope", default="submit,read,admin", show_default=True)
@click.option("--rate-limit", default=None)
@click.pass_obj
def ensure(  # noqa: PLR0917 - click passes every option positionally by name.
    settings: CliSettings,
    key_file: Path,
    name: str,
    tenant: str,
    scope: str,
    rate_limit: str | None,
) -> None:
    """Print the active key stored in KEY_FILE, creating it (mode 600) when missing or revoked.

    For development stacks: `ops/stack.sh up` keeps its key under .stack/ this way.
    """
    scopes, limit = _scopes(scope), _rate_limit(rate_limit)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            stored = key_file.read_text().strip() if key_file.exists() else ""
            if stored and find_active_key(conn, stored) is not None:
                key = stored
            else:
                key, _ = create_key(conn, name=name, tenant=tenant, scopes=scopes, rate_limit=limit)
                key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(key + "\n")
    finally:
        engine.dispose()
    click.echo(key)
