"""Downloading an ``image_url`` the way Slack does while it handles a message.

Slack fetches every ``image_url`` of a message at the moment of ``chat.postMessage`` /
``chat.update`` and refuses the whole message with ``invalid_blocks`` and "downloading image
failed [json-pointer:/blocks/N/image_url]" when it cannot (slackapi/python-slack-sdk issue 1782;
a URL Slack cannot reach fails the same way, otiai10/amesh-bot issue 24). It follows redirects,
and it needs a 2xx answer that is an image of a type the image block supports (png, jpg, jpeg,
gif: docs.slack.dev/reference/block-kit/blocks/image-block), within a few seconds.

Slack itself reaches only public hosts. This stand-in serves the local stack and the tests, so
by default it fetches loopback addresses only and treats any other host as unreachable: no
request leaves the machine, and a link that only works on the open internet fails here as it
would fail on a laptop.
"""

from __future__ import annotations

import http.client
import ipaddress
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
MAX_BYTES = 50 * 1024 * 1024  # read no further: a bound on memory, not a Slack limit
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"  # a Slack-like name; servers must not care


@dataclass(frozen=True)
class ImageFetch:
    url: str
    status: int | None  # the last HTTP status seen (after redirects); None when no answer came
    ok: bool
    content_type: str = ""
    error: str = ""  # why it failed


class _Refused(Exception):
    pass


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (urllib's limit of 10), but never off the loopback addresses."""

    def __init__(self, loopback_only: bool) -> None:
        self.loopback_only = loopback_only

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if self.loopback_only and not is_loopback(newurl):
            raise _Refused(f"redirected to {urlsplit(newurl).hostname}, which is not a loopback host")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, timeout: float, *, loopback_only: bool = True) -> ImageFetch:
    if urlsplit(url).scheme not in ("http", "https"):
        return ImageFetch(url, None, False, error="not an http(s) URL")
    if loopback_only and not is_loopback(url):
        return ImageFetch(url, None, False, error="not fetched: only loopback hosts are reachable here")
    # No proxy: the image is on this machine, and the environment's proxy must not see it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _Redirects(loopback_only))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310 - checked above
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as response:
            data = response.read(MAX_BYTES)
            status, content_type = int(response.status), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return ImageFetch(url, error.code, False, error=f"HTTP {error.code}")
    except (_Refused, urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return ImageFetch(url, None, False, error=str(reason) or type(error).__name__)
    if time.monotonic() - started > timeout:
        return ImageFetch(url, status, False, content_type, f"slower than {timeout:g} s")
    if not 200 <= status < 300:
        return ImageFetch(url, status, False, content_type, f"HTTP {status}")
    if content_type not in IMAGE_TYPES or not data.startswith(MAGIC):
        return ImageFetch(url, status, False, content_type, f"not a png, jpeg or gif ({content_type})")
    return ImageFetch(url, status, True, content_type)


def fetch_all(urls: list[str], timeout: float, *, loopback_only: bool = True) -> list[ImageFetch]:
    """Fetch the images side by side (a message waits for its slowest image, not their sum)."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(len(urls), 8)) as pool:
        return list(pool.map(lambda url: fetch(url, timeout, loopback_only=loopback_only), urls))
