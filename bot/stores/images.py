"""Where images live in S3, and the stable links that open them.

A link is ``{PUBLIC_BASE_URL}/images/{token}/{team}/{yyyy}/{mm}/{dd}/{job_id}/{n}.jpg``: the
path after the token is the object's key (less the ``images/`` prefix) and the token is an
HMAC of that key. Only the holder of the link secret can make a token, a token opens exactly
one key, and checking one needs no S3 call. A presigned URL is minted only when someone opens
the link, so links outlive the credentials that sign those URLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "images/"
_KEY = re.compile(r"^images/[A-Z0-9]{1,32}/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}/\d{1,2}\.jpg$")
_TOKEN_BYTES = 16  # 128 bits of HMAC-SHA256: unguessable, and short enough for a tidy URL
_METADATA_BUDGET = 1800  # S3 allows 2 KB of user metadata; leave room for the names
# How S3 says "no such object". Without s3:ListBucket (the functions are not granted it) a
# missing key answers 403, not 404, so an expired image reads as AccessDenied.
_MISSING = {"404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"}


def s3_addressing(botocore_session: Any) -> dict[str, str]:
    """The S3 client's ``s3`` config: which host names the bucket, for requests and URLs alike.

    With no endpoint configured, everything goes to the bucket's regional virtual-hosted
    endpoint (``https://{bucket}.s3.{region}.amazonaws.com``, SigV4 scoped to that region).
    Left to itself botocore presigns for the global ``{bucket}.s3.amazonaws.com``; a bucket less
    than about a day old answers that host with a 307 to its regional one, where the signature
    no longer matches (boto/boto3#4651; "Temporary request redirection" in S3's request routing
    guide). The stack creates the bucket in the function's region, so the client's region is
    the bucket's. A configured endpoint (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL`` or
    ``endpoint_url`` in the shared config: moto locally) is kept as it is, path-style, for the
    API calls and the presigned URLs together, so a browser opens what the functions use.
    """
    if _endpoint_configured(botocore_session):
        return {}
    # "virtual" stops botocore's presign fallback to the global host; "regional" does the same
    # for us-east-1, whose legacy default is the global host too.
    return {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}


def _endpoint_configured(botocore_session: Any) -> bool:
    from botocore.configprovider import ConfiguredEndpointProvider

    if botocore_session.get_config_variable("ignore_configured_endpoint_urls"):
        return False
    # The same lookup botocore makes for a client: service variable, global variable, config file.
    provider = ConfiguredEndpointProvider(
        full_config=botocore_session.full_config,
        scoped_config=botocore_session.get_scoped_config(),
        client_name="s3",
    )
    return provider.provide() is not None


def image_key(team_id: str, job_id: str, created: datetime, index: int) -> str:
    return f"{PREFIX}{team_id}/{created:%Y/%m/%d}/{job_id}/{index}.jpg"


def job_id_of(key: str) -> str:
    """The job an image key belongs to (its second-to-last part); "" for a key not of that form."""
    return key.split("/")[-2] if _KEY.match(key) else ""


def link_token(secret: str, key: str) -> str:
    digest = hmac.new(secret.encode(), key.encode(), hashlib.sha256).digest()[:_TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def image_link(base_url: str, secret: str, key: str) -> str:
    return f"{base_url}/images/{link_token(secret, key)}/{key.removeprefix(PREFIX)}"


def key_from_link_path(secret: str, path: str) -> str | None:
    """The key a link path opens, or None when the path is malformed or its token is wrong.

    The path may carry a stage or other prefix before ``/images/`` (REST API stages do).
    """
    parts = split_link_path(path)
    if parts is None or not token_matches(secret, *parts):
        return None
    return parts[1]


def split_link_path(path: str) -> tuple[str, str] | None:
    """A link path's token and the key it names, or None when no link could look like it.

    Checking a token needs the link key; a path refused here needs nothing at all.
    """
    _, marker, rest = path.partition("/images/")
    token, _, tail = rest.partition("/")
    key = PREFIX + tail
    if not marker or not _KEY.match(key):
        return None
    return token, key


def token_matches(secret: str, token: str, key: str) -> bool:
    """Whether ``token`` was made for ``key`` with ``secret`` (compared in constant time)."""
    return bool(secret) and hmac.compare_digest(token.encode(), link_token(secret, key).encode())


def image_metadata(fields: dict[str, str]) -> dict[str, str]:
    """S3 user metadata: URL-quoted (headers are ASCII) and trimmed to fit S3's 2 KB."""
    metadata: dict[str, str] = {}
    budget = _METADATA_BUDGET
    # Shortest first, so the small fields (seed, size, ids) always fit and a long prompt is trimmed.
    for name, value in sorted(fields.items(), key=lambda item: len(item[1])):
        quoted = _quoted_within(value, max(0, budget - len(name)))
        metadata[name] = quoted
        budget -= len(name) + len(quoted)
    return metadata


def _quoted_within(value: str, limit: int) -> str:
    quoted = quote(value, safe=" ,:;.-_()")
    if len(quoted) <= limit:
        return quoted
    cut = quoted[:limit]
    escape_start = cut.rfind("%", max(0, len(cut) - 2))  # never end inside a %XX escape
    return cut[:escape_start] if escape_start != -1 else cut


class ImageStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, jpeg: bytes, metadata: dict[str, str]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=jpeg,
            ContentType="image/jpeg",
            CacheControl="private, max-age=31536000, immutable",
            Metadata=image_metadata(metadata),
        )

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise

    def delete(self, key: str) -> None:
        """Delete the object; deleting one that is already gone succeeds (S3 answers 204)."""
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def delete_team(self, team_id: str) -> int:
        """Delete every image of workspace ``team_id`` (``images/{team}/…``); how many went. Needs
        s3:ListBucket on that prefix, the one listing the worker is granted."""
        paginator = self.s3.get_paginator("list_objects_v2")
        gone = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{PREFIX}{team_id}/"):
            keys: list[Any] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # DeleteObjects takes up to 1,000 keys, a page's most
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                gone += len(keys)
        return gone

    def presign(self, key: str, seconds: int) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )
