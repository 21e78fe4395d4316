"""Image links from a bucket in its first day, in any region.

botocore presigns for the global ``{bucket}.s3.amazonaws.com`` host. For about a day after a
bucket is created outside us-east-1, S3 answers that host with a 307 to the regional one, and
the signature, made for the global Host, no longer matches: SignatureDoesNotMatch
(https://github.com/boto/boto3/issues/4651; AWS knowledge center "s3-http-307-response").

These tests run the real ``GET /images/...`` route with AWS_REGION set and no endpoint override,
as in Lambda. The route makes a real HeadObject before it presigns, and overriding the endpoint
for that call would also change the presigned URL under test. So the real host names are kept
and reached through a standard HTTPS proxy instead: ``HTTPS_PROXY`` (which botocore and urllib
honour) points at :class:`RegionalS3` on 127.0.0.1, which terminates TLS with a local CA
(``AWS_CA_BUNDLE``), checks every SigV4 signature itself, and plays the young bucket's 307.
Nothing leaves the machine, and the client code is exactly what runs in Lambda.
"""

from __future__ import annotations

import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import boto3
import pytest
from botocore.config import Config

from bot.backends.placeholder import PlaceholderBackend
from bot.model.prompt import ImageRequest
from bot.services import reset_process_services
from bot.stores.images import image_key, image_link
from tests.conftest import (
    BOT_TOKEN,
    LINK_SECRET,
    PUBLIC_BASE_URL,
    SIGNING_SECRET,
    Stack,
    call_http,
    call_worker,
    clear_settings,
    command_event,
    http_event,
)
from tests.fakes.local_ca import LocalCA
from tests.fakes.regional_s3 import RegionalS3, Seen
from tests.fakes.sigv4 import check

ACCESS_KEY = "AKIAIMAGINETESTKEY01"
SECRET_KEY = "imagine-test-secret-key-" + "c" * 16
JPEG = PlaceholderBackend().generate(ImageRequest(prompt="a lighthouse", seed=1, width=64, height=64))[0]
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def regional(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[RegionalS3]:
    """A new bucket in ``request.param``, reachable only through the proxy, and Lambda's settings."""
    region: str = request.param
    clear_settings(monkeypatch)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    bucket = f"imagine-images-{secrets.token_hex(4)}"
    s3 = RegionalS3(LocalCA(tmp_path), bucket, region, {ACCESS_KEY: SECRET_KEY}).start()
    settings = {
        # What Lambda sets: the region twice, credentials, and no endpoint of any kind.
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        # Nothing from this machine's ~/.aws may add an endpoint or a profile.
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        # The way in: the real host names, through the loopback proxy, trusted via the local CA.
        "HTTPS_PROXY": s3.url,
        "AWS_CA_BUNDLE": str(s3.ca.ca_file),
        "IMAGES_BUCKET": bucket,
        "IMAGE_LINK_MODE": "redirect",  # HeadObject, then a presigned URL
        "JOBS_QUEUE_URL": f"https://sqs.{region}.amazonaws.com/123456789012/imagine-jobs",
        "TASKS_QUEUE_URL": f"https://sqs.{region}.amazonaws.com/123456789012/imagine-tasks",
        "JOBS_TABLE": "imagine-jobs",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "LINK_SECRET": LINK_SECRET,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_process_services()
    yield s3
    reset_process_services()
    s3.stop()


def _stored_image(s3: RegionalS3) -> tuple[str, str]:
    """An object in the bucket, and the app path of its stable link."""
    key = image_key("T0LOCAL", uuid4().hex, datetime.now(UTC), 0)
    s3.objects[key] = JPEG
    return key, urlsplit(image_link(PUBLIC_BASE_URL, LINK_SECRET, key)).path.removeprefix("/prod")


def _browser_get(url: str, s3: RegionalS3) -> bytes:
    """Open a URL as a browser would: through the proxy, trusting the local CA, following redirects."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": s3.url}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(s3.ca.ca_file))),
    )
    with opener.open(url, timeout=10) as answer:
        data: bytes = answer.read()
        return data


@pytest.mark.parametrize("regional", ["eu-west-1", "ap-southeast-2", "us-east-1"], indirect=True)
def test_image_link_opens_from_a_new_bucket_in_its_region(regional: RegionalS3) -> None:
    region = regional.region
    _, path = _stored_image(regional)

    response = call_http(http_event("http", "GET", path))

    assert response["statusCode"] == 302, response
    presigned = response["headers"]["Location"]
    url = urlsplit(presigned)
    params = dict(parse_qsl(url.query))
    assert url.scheme == "https"
    assert url.netloc == f"{regional.bucket}.s3.{region}.amazonaws.com"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    access_key, _date, scope_region, service, terminator = params["X-Amz-Credential"].split("/")
    assert (access_key, scope_region, service, terminator) == (ACCESS_KEY, region, "s3", "aws4_request")
    assert params["X-Amz-SignedHeaders"] == "host"
    # The signature, recomputed from the URL alone, holds for exactly that host.
    keys = {ACCESS_KEY: SECRET_KEY}
    assert check("GET", f"{url.path}?{url.query}", {"Host": url.netloc}, keys=keys, region=region) is None
    wrong_host = {"Host": f"{regional.bucket}.s3.amazonaws.com"}
    assert check("GET", f"{url.path}?{url.query}", wrong_host, keys=keys, region=region) is not None
    # The route's HeadObject went to the same regional host, signed for the region.
    [head] = regional.seen
    assert (head.method, head.host, head.status) == ("HEAD", regional.regional_host, 200)

    assert _browser_get(presigned, regional) == JPEG
    assert regional.seen[-1] == Seen("GET", regional.regional_host, f"{url.path}?{url.query}", 200)


@pytest.mark.parametrize("regional", ["eu-west-1", "ap-southeast-2"], indirect=True)
def test_the_stand_in_refuses_a_url_signed_for_the_global_host(regional: RegionalS3) -> None:
    """The failure users report, reproduced: botocore's default presign, then S3's 307."""
    key, _ = _stored_image(regional)
    default_client = boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))
    presigned = default_client.generate_presigned_url(
        "get_object", Params={"Bucket": regional.bucket, "Key": key}, ExpiresIn=300
    )
    assert urlsplit(presigned).netloc == regional.global_host

    with pytest.raises(urllib.error.HTTPError) as refused:
        _browser_get(presigned, regional)

    assert refused.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in refused.value.read()
    assert [(s.host, s.status) for s in regional.seen] == [
        (regional.global_host, 307),
        (regional.regional_host, 403),
    ]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_a_configured_endpoint_is_used_for_the_calls_and_the_links(
    env: Stack, monkeypatch: pytest.MonkeyPatch, moto_url: str, variable: str
) -> None:
    if variable != "AWS_ENDPOINT_URL":  # only S3's own variable names the endpoint
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        for service in ("SQS", "DYNAMODB"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)
        monkeypatch.setenv(variable, moto_url)
        reset_process_services()
    call_http(command_event("a lighthouse at dusk"))
    assert call_worker(env.sqs_event()) == {"batchItemFailures": []}
    [image] = [b for b in env.slack.calls_to("chat.update")[0].args["blocks"] if b["type"] == "image"]

    response = call_http(http_event("http", "GET", urlsplit(image["image_url"]).path.removeprefix("/prod")))

    assert response["statusCode"] == 302
    presigned = response["headers"]["Location"]
    assert presigned.startswith(f"{moto_url}/{env.resources.bucket}/images/")
    with urllib.request.urlopen(presigned, timeout=10) as opened:
        assert opened.read().startswith(b"\xff\xd8\xff")
