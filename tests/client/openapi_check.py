"""Look-ups in the live OpenAPI document for the client's contract tests.

The tests read the running API's document rather than a copy kept in the repository: a copy
would have to follow every change of the API, even to parts the client never uses, and would
still not prove that the running API says what the copy says. Read live, a test fails only
when an operation, parameter or member the client relies on is missing or renamed.
"""

import re
from typing import Any

import httpx

from taskservice_client import calls, parsing
from taskservice_client.calls import Endpoint

JsonSchema = dict[str, Any]
# The operator's operations, checked by tests/client/test_operator_calls.py; the rest by
# tests/client/test_openapi.py.
OPERATOR_ENDPOINTS = frozenset(
    {calls.ATTEMPTS, calls.CREATE_REDRIVE, calls.GET_REDRIVE, calls.CANCEL_REDRIVE}
)


def fetch(api_url: str) -> dict[str, Any]:
    """The API's OpenAPI document (served without authentication)."""
    response = httpx.get(f"{api_url}/api/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _template(path: str) -> str:
    # Parameter names are the document's business (`{task_id}`, `{id}`); positions are ours.
    return re.sub(r"\{[^}]*\}", "{}", path)


def operation(doc: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The document's operation for the client's method and path."""
    for path, item in doc["paths"].items():
        if _template(path) == endpoint.path and endpoint.method.lower() in item:
            return item[endpoint.method.lower()]
    raise AssertionError(f"the API documents no {endpoint.method} {endpoint.path}")


def resolve(doc: dict[str, Any], schema: JsonSchema) -> JsonSchema:
    """The schema itself when it is a `$ref` to the document's components."""
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = doc["components"]["schemas"][name]
    return schema


def response_schema(doc: dict[str, Any], endpoint: Endpoint, status: str) -> JsonSchema:
    """The schema of one documented answer of an operation."""
    responses = operation(doc, endpoint)["responses"]
    assert status in responses, f"{endpoint.method} {endpoint.path} documents no {status}"
    content = responses[status]["content"]
    media = content.get("application/json") or content.get("application/problem+json")
    return resolve(doc, media["schema"])


def request_schema(doc: dict[str, Any], endpoint: Endpoint) -> JsonSchema:
    """The JSON body schema of an operation."""
    body = operation(doc, endpoint)["requestBody"]["content"]["application/json"]
    return resolve(doc, body["schema"])


def member(doc: dict[str, Any], schema: JsonSchema, *steps: str) -> JsonSchema:
    """Walk into a schema: a name steps into a property, "[]" into an array's items."""
    for step in steps:
        schema = resolve(doc, schema)
        if step == "[]":
            schema = schema["items"]
        else:
            properties = schema.get("properties", {})
            assert step in properties, f"the schema has no member {step!r}"
            schema = properties[step]
    return resolve(doc, schema)


def missing_members(doc: dict[str, Any], schema: JsonSchema, model: type) -> list[str]:
    """The members a client dataclass reads that the schema does not declare."""
    properties = resolve(doc, schema).get("properties", {})
    return [name for name in parsing.json_fields(model) if name not in properties]


def parameter_names(doc: dict[str, Any], endpoint: Endpoint, where: str) -> set[str]:
    """The names of an operation's parameters in the query, the headers or the path."""
    parameters = operation(doc, endpoint).get("parameters", [])
    return {p["name"] for p in parameters if p["in"] == where}


def enum_of(doc: dict[str, Any], schema: JsonSchema, name: str) -> set[str]:
    """The values a string member may take."""
    return set(member(doc, schema, name)["enum"])
