"""Property tests of the request decoder: every byte string gets a value the task store can keep
or a 4xx problem, never an exception that would become a 500."""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.webapp.apikit import bearer, new_key
from webapp.errors import ApiError
from webapp.validation import parse_json

# Any code point, lone surrogates included: the decoder meets them as \\uXXXX escapes.
CODE_POINTS = st.integers(min_value=0, max_value=0x10FFFF)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**60), max_value=10**60).map(str),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(st.integers(-999, 999), st.integers(-999, 999)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.sampled_from(["-0", "0.0", "1E+400", "-1e-400", "NaN", "Infinity", "-Infinity"]),
)


@st.composite
def json_string(draw: st.DrawFn) -> str:
    """A JSON string literal whose characters are written plainly or as escapes."""
    out = ['"']
    for cp in draw(st.lists(CODE_POINTS, max_size=12)):
        char = chr(cp)
        plain = cp >= 0x20 and char not in '"\\' and not 0xD800 <= cp <= 0xDFFF
        if plain and draw(st.booleans()):
            out.append(char)
        elif cp > 0xFFFF:
            high, low = divmod(cp - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(draw(st.sampled_from([f"\\u{cp:04x}", f"\\u{cp:04X}"])))
    out.append('"')
    return "".join(out)


def json_text(max_leaves: int = 20) -> st.SearchStrategy[str]:
    """JSON texts of any nesting, numbers of any size and strings with any escapes."""
    scalars = st.one_of(st.sampled_from(["null", "true", "false"]), NUMBERS, json_string())
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
            st.lists(st.tuples(json_string(), inner), max_size=4).map(
                lambda pairs: "{" + ",".join(f"{k}: {v}" for k, v in pairs) + "}"
            ),
            inner.map(lambda v: "[" * 40 + v + "]" * 40),
        ),
        max_leaves=max_leaves,
    )


def _assert_storable(value: Any) -> None:
    # What the decoder lets through must survive jsonb's encoder and the JSON of a response.
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(json_text())
def test_every_json_text_decodes_to_a_storable_value_or_a_4xx(text):
    try:
        value = parse_json(text.encode("utf-8", "surrogatepass"))
    except ApiError as err:
        assert 400 <= err.status < 500, err
        assert err.detail
    else:
        _assert_storable(value)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_every_byte_string_decodes_or_is_a_4xx(raw):
    try:
        value = parse_json(raw)
    except ApiError as err:
        assert 400 <= err.status < 500, err
    else:
        _assert_storable(value)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=json_text(max_leaves=8))
def test_submissions_with_any_payload_answer_2xx_or_a_4xx_problem(client, engine, payload):
    key = new_key(engine)
    for body in (
        f'{{"type": "echo", "payload": {{"v": {payload}}}}}',
        json.dumps({"type": "echo", "payload": f'{{"v": {payload}}}'}),
    ):
        response = client.post(
            "/api/tasks",
            data=body.encode("utf-8", "surrogatepass"),
            content_type="application/json",
            headers=bearer(key),
        )
        assert response.status_code in (202, 400, 413, 422), response.get_data(as_text=True)
        if response.status_code != 202:
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json["detail"]
        assert "Retry-After" not in response.headers
