"""Installing the app in a workspace as a person does it: a browser on the install page, Slack's
authorize step approved, and the redirect back (the Slack stand-in's side: bot/local/slack/oauth.py)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import Stack, call_http, http_event

COOKIE = "slack-app-oauth-state"  # Bolt's state cookie (slack_sdk's OAuthStateUtils)


def browser_get(path: str, query: dict[str, str] | None = None, cookies: list[str] | None = None,
                *, shape: str = "http") -> dict[str, Any]:  # fmt: skip
    """A browser's GET through http_handler, in the event shape API Gateway gives it."""
    event = http_event(shape, "GET", path)
    query, cookies = query or {}, cookies or []
    if shape == "rest":
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
        if cookies:
            event["headers"]["Cookie"] = "; ".join(cookies)
            event["multiValueHeaders"] = {"Cookie": ["; ".join(cookies)]}
    else:
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = query or None
        if cookies:
            event["cookies"] = cookies
    return call_http(event)


def install_page(shape: str = "http") -> tuple[str, str]:
    """The install page's link to Slack's authorize step, and the state cookie it set."""
    page = browser_get("/slack/install", shape=shape)
    assert page["statusCode"] == 200, page
    cookie = page["headers"]["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "Secure" in cookie
    [link] = re.findall(r"<a href=\"([^\"]+)\"", page["body"])
    return link.replace("&amp;", "&"), cookie.split(";")[0]


def approve(link: str, team: str) -> dict[str, str]:
    """A person approving the install in ``team``: Slack redirects back with a code and the state."""
    request = urllib.request.Request(f"{link}&team={team}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:  # the redirect, not followed
        urllib.request.build_opener(NoRedirect).open(request, timeout=5)
    assert answer.value.code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.value.headers["Location"]).query).items()}


def install(env: Stack, team: str, shape: str = "http") -> dict[str, Any]:
    link, cookie = install_page(shape)
    back = approve(link, team)
    return browser_get("/slack/oauth_redirect", back, [cookie], shape=shape)
