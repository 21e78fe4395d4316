"""AWS Signature Version 4 checked the way S3 checks it, written from the specification rather
than from botocore, so a signature botocore made is judged by something that is not botocore.

It takes a request as it arrived (method, the raw path and query of the request line, headers)
and says why S3 would refuse it, or None. Both forms are covered: the query string of a
presigned URL and the ``Authorization`` header of an API call. See "Authenticating Requests:
Using Query Parameters (AWS Signature Version 4)" and "Signature Calculations for the
Authorization Header" in the Amazon S3 API Reference.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from calendar import timegm
from dataclasses import dataclass
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
_AUTH_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Signed:
    """What a request's signature claims."""

    access_key: str
    date: str  # yyyymmdd of the scope
    region: str
    service: str
    amz_date: str  # yyyymmddThhmmssZ
    signed_headers: tuple[str, ...]
    signature: str
    expires: int | None  # seconds, query form only


def check(
    method: str,
    target: str,
    headers: dict[str, str],
    *,
    keys: dict[str, str],
    region: str,
    now: float | None = None,
) -> Refusal | None:
    """Why S3 in ``region`` would refuse this request, or None when its signature holds.

    ``target`` is the request line's target (``/path?query``) exactly as sent; ``keys`` maps
    access key ids to secret keys; ``headers`` are matched case-insensitively.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    path, _, query = target.partition("?")
    params = _query_pairs(query)
    names = {name for name, _ in params}
    if "X-Amz-Signature" in names:
        parsed = _from_query(params)
        where = "query"
    elif lowered.get("authorization", "").startswith(ALGORITHM):
        parsed = _from_header(lowered)
        where = "header"
    else:
        return Refusal(403, "AccessDenied", "Access Denied")
    if isinstance(parsed, Refusal):
        return parsed
    if parsed.access_key not in keys:
        return Refusal(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    if parsed.region != region or parsed.service != "s3":
        if where == "query":
            return Refusal(
                400,
                "AuthorizationQueryParametersError",
                f"Error parsing the X-Amz-Credential parameter; the region '{parsed.region}' is wrong; "
                f"expecting '{region}'",
            )
        return Refusal(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{parsed.region}' is wrong; "
            f"expecting '{region}'",
        )
    if "host" not in parsed.signed_headers:
        return Refusal(403, "AccessDenied", "There were headers present in the request which were not signed")
    if parsed.expires is not None:
        signed_at = timegm(time.strptime(parsed.amz_date, "%Y%m%dT%H%M%SZ"))
        if (time.time() if now is None else now) > signed_at + parsed.expires:
            return Refusal(403, "AccessDenied", "Request has expired")

    if where == "query":
        payload = UNSIGNED
        canonical_params = [(n, v) for n, v in params if n != "X-Amz-Signature"]
    else:
        payload = lowered.get("x-amz-content-sha256", "")
        canonical_params = params
    canonical_request = "\n".join(
        [
            method,
            path,  # S3 signs the path as sent: no normalising, no second encoding
            "&".join(f"{_encode(n)}={_encode(v)}" for n, v in sorted(canonical_params)),
            "".join(f"{name}:{_trimmed(lowered.get(name, ''))}\n" for name in parsed.signed_headers),
            ";".join(parsed.signed_headers),
            payload,
        ]
    )
    scope = f"{parsed.date}/{parsed.region}/{parsed.service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, parsed.amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + keys[parsed.access_key]).encode(), parsed.date)
    for part in (parsed.region, parsed.service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parsed.signature):
        return Refusal(403, "SignatureDoesNotMatch", MISMATCH)
    return None


def _from_query(params: list[tuple[str, str]]) -> Signed | Refusal:
    values = dict(params)
    if values.get("X-Amz-Algorithm") != ALGORITHM:
        return Refusal(
            400,
            "AuthorizationQueryParametersError",
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
        )
    scope = _scope(values.get("X-Amz-Credential", ""))
    if scope is None or "X-Amz-Date" not in values or "X-Amz-SignedHeaders" not in values:
        return Refusal(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication requires "
            "the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
            "X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    try:
        expires = int(values.get("X-Amz-Expires", ""))
    except ValueError:
        return Refusal(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
    return Signed(
        *scope,
        amz_date=values["X-Amz-Date"],
        signed_headers=tuple(values["X-Amz-SignedHeaders"].split(";")),
        signature=values["X-Amz-Signature"],
        expires=expires,
    )


def _from_header(headers: dict[str, str]) -> Signed | Refusal:
    match = _AUTH_HEADER.match(headers["authorization"])
    scope = _scope(match.group(1)) if match else None
    if match is None or scope is None or "x-amz-date" not in headers:
        return Refusal(400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
    return Signed(
        *scope,
        amz_date=headers["x-amz-date"],
        signed_headers=tuple(match.group(2).split(";")),
        signature=match.group(3),
        expires=None,
    )


def _scope(credential: str) -> tuple[str, str, str, str] | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")  # only RFC 3986's unreserved characters stay as they are


def _trimmed(value: str) -> str:
    return " ".join(value.split())


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
