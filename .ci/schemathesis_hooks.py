"""Schemathesis hooks for guichet's API document (src/server/openapi.json).

- Format `ahv`: valid AHV numbers (prefix 756, EAN-13 check digit), 13 digits or dotted,
  so that positive-data checks send numbers the server must accept. Negative data stays
  schemathesis's own (pattern violations).
- yearFrom/yearTo: a cross-parameter rule (yearFrom not after yearTo) that JSON Schema
  cannot state; a positive pair is put in order. A pair is positive or negative by each
  value's own schema, which ordering does not change.
- PUT /v1/adapters/{office}: If-Match and the body's `version` must name the same version
  (another cross-field rule); a positive pair is made to agree.
- Adapter endpoints: a syntactically valid https:// endpoint is replaced by the endpoint of
  a simulated office on loopback (GUICHET_PROBE_ENDPOINT), so the conformance probe a PUT
  runs never leaves the machine. Validity is unchanged (one https URL for another).
- End-user tokens: a request about a valid AHV number without an Authorization header gets
  that person's token from the development identity provider (`guichet token`, bound to
  the portal-demo certificate: GUICHET_BIN, GUICHET_TOKEN_KEY, GUICHET_TOKEN_CERT), as a
  portal would send for the person logged in. The office and admin runs are refused by
  role first; refused tokens are tests/end_user_tokens.rs's business.
"""

import os
import subprocess

import schemathesis
from hypothesis import strategies as st


def _check_digit(first12):
    total = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def _ahv(free, dotted):
    digits = [7, 5, 6] + [int(c) for c in f"{free:09d}"]
    digits.append(_check_digit(digits))
    s = "".join(map(str, digits))
    return f"{s[:3]}.{s[3:7]}.{s[7:11]}.{s[11:]}" if dotted else s


schemathesis.openapi.format(
    "ahv",
    st.builds(_ahv, st.integers(min_value=0, max_value=999_999_999), st.booleans()),
)


def _order_years(case):
    query = case.query
    if not isinstance(query, dict):
        return
    lo, hi = _year(query.get("yearFrom")), _year(query.get("yearTo"))
    if lo is not None and hi is not None and lo > hi:
        query["yearFrom"], query["yearTo"] = query["yearTo"], query["yearFrom"]


def _year(value):
    """A year in range, sent as an integer or as its digits (the coverage phase)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 1948 <= value <= 2100 else None


def _version_agrees(case):
    """If-Match and the body's version name the same version (cross-field rule)."""
    body, headers = case.body, case.headers or {}
    tag = headers.get("If-Match")
    if not isinstance(body, dict) or not isinstance(tag, str):
        return
    digits = tag.removeprefix("W/").strip('"')
    version = body.get("version")
    if digits.isdigit() and isinstance(version, int) and not isinstance(version, bool) and version >= 0:
        body["version"] = int(digits)


def _loopback_endpoint(case):
    endpoint = os.environ.get("GUICHET_PROBE_ENDPOINT")
    body = case.body
    if endpoint and isinstance(body, dict):
        value = body.get("endpoint")
        if isinstance(value, str) and value.startswith("https://"):
            body["endpoint"] = endpoint


_TOKENS = {}


def _token(vn):
    """The development provider's token for `vn` (None when `vn` is not a valid number)."""
    if vn not in _TOKENS:
        binary, key, cert = (os.environ.get(k) for k in ("GUICHET_BIN", "GUICHET_TOKEN_KEY", "GUICHET_TOKEN_CERT"))
        if not (binary and key and cert):
            return None
        run = subprocess.run(
            [binary, "token", "--vn", vn, "--portal-cert", cert, "--key", key, "--ttl", "30m"],
            capture_output=True, text=True, check=False,
        )
        _TOKENS[vn] = run.stdout.strip() if run.returncode == 0 else None
    return _TOKENS[vn]


def _end_user_token(case):
    vn = (case.path_parameters or {}).get("vn")
    if not isinstance(vn, str):
        return
    headers = dict(case.headers or {})
    if any(k.lower() == "authorization" for k in headers):
        return
    token = _token(vn)
    if token:
        headers["Authorization"] = f"Bearer {token}"
        case.headers = headers


@schemathesis.hook
def before_call(context, case, kwargs):
    """Every phase (coverage included) goes through this hook, unlike map_* hooks."""
    _order_years(case)
    _version_agrees(case)
    _loopback_endpoint(case)
    _end_user_token(case)
