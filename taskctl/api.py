"""The few calls `taskctl` makes to the task service's HTTP API (re-drives), with one-line
errors for an API that cannot be reached or refuses."""

from typing import Any

import click
import httpx

from taskctl.settings import CliSettings


def client(settings: CliSettings) -> httpx.Client:
    """An HTTP client of the API, authenticated with TASKCTL_API_KEY."""
    if not settings.api_key:
        raise click.ClickException(
            "this command talks to the API: set TASKCTL_API_KEY (taskctl apikey create ...)"
        )
    return httpx.Client(
        base_url=settings.api_url,
        headers={"Authorization": f"Bearer {settings.api_key}"},
        timeout=settings.api_timeout_s,
    )


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One request; its JSON body, or a ClickException saying in one line what went wrong."""
    try:
        response = http.request(method, path, **kwargs)
    except httpx.HTTPError as err:
        raise click.ClickException(f"the API at {http.base_url} is unreachable: {err}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        raise click.ClickException(f"the API answered {response.status_code}: {detail}")
    body: dict[str, Any] = response.json()
    return body
