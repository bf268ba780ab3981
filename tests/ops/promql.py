"""Metric names that PromQL expressions query (for the dashboard and alert-rule checks)."""

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """Every metric name `expr` selects: identifiers that are neither functions nor keywords."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue
        # A digit before the identifier makes it part of a number such as 1e3.
        if match.start() > 0 and text[match.start() - 1].isdigit():
            continue
        if match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def exposed_names(exposition: str) -> set[str]:
    """Sample names in a Prometheus text exposition (`x_total`, `x_bucket`, ...)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
