"""Keys, link tokens and metadata (pure), and the key scheme under load."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.model.job import Job
from bot.model.prompt import ImageRequest
from bot.stores.images import (
    image_key,
    image_link,
    image_metadata,
    key_from_link_path,
    link_token,
    split_link_path,
    token_matches,
)

SECRET = "link-secret-for-tests"
KEY = "images/T0ABC/2026/11/25/0123456789abcdef0123456789abcdef/0.jpg"
OTHER = "images/T0ABC/2026/11/25/0123456789abcdef0123456789abcdef/1.jpg"


def test_key_scheme() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert image_key("T0ABC", "f" * 32, created, 3) == f"images/T0ABC/2026/01/02/{'f' * 32}/3.jpg"


def test_thousand_jobs_in_one_second_get_distinct_keys() -> None:
    request = ImageRequest(prompt="same", seed=1)
    jobs = [
        Job.new(team_id="T1", channel_id="C1", user_id="U1", request=request, now=1_764_000_000.0)
        for _ in range(1000)
    ]
    keys = {image_key(job.team_id, job.job_id, job.created, 0) for job in jobs}
    assert len(keys) == 1000


def test_link_round_trip_with_and_without_a_stage() -> None:
    link = image_link("https://imagine.example/prod", SECRET, KEY)
    path = link.removeprefix("https://imagine.example")
    assert key_from_link_path(SECRET, path) == KEY
    assert key_from_link_path(SECRET, path.removeprefix("/prod")) == KEY


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token, tail: f"/images/{token[:-1]}/{tail}",  # truncated token
        lambda token, tail: f"/images/{token}x/{tail}",  # extended token
        lambda token, tail: f"/images/{link_token('other-secret', KEY)}/{tail}",  # forged with another key
        lambda token, tail: f"/images/{link_token(SECRET, OTHER)}/{tail}",  # another image's token
        lambda token, tail: f"/images/{token}/{tail.replace('0.jpg', '1.jpg')}",  # token for 0, asks for 1
        lambda token, tail: f"/images/{token}/../{tail}",  # path games
        lambda token, tail: f"/images//{tail}",  # no token
        lambda token, tail: f"/images/{token}",  # no key
        lambda token, tail: "/images/",
    ],
)
def test_forged_links_open_nothing(mangle) -> None:  # type: ignore[no-untyped-def]
    token = link_token(SECRET, KEY)
    assert key_from_link_path(SECRET, mangle(token, KEY.removeprefix("images/"))) is None


def test_an_empty_key_opens_nothing() -> None:
    """No previous link key reads as "": a token anyone can make with an empty key never passes."""
    token = link_token("", KEY)
    assert not token_matches("", token, KEY)
    assert key_from_link_path("", f"/images/{token}/{KEY.removeprefix('images/')}") is None


def test_a_link_path_splits_into_its_token_and_key_without_any_secret() -> None:
    link = image_link("https://imagine.example/prod", SECRET, KEY)
    assert split_link_path(link.removeprefix("https://imagine.example")) == (link_token(SECRET, KEY), KEY)
    assert split_link_path(f"/images/{link_token(SECRET, KEY)}/../{KEY.removeprefix('images/')}") is None
    assert token_matches(SECRET, link_token(SECRET, KEY), KEY)
    assert not token_matches(SECRET, link_token(SECRET, KEY), OTHER)


@given(st.text(max_size=200))
def test_random_paths_open_nothing(path: str) -> None:
    assert key_from_link_path(SECRET, "/images/" + path) is None


def test_metadata_is_ascii_and_fits() -> None:
    metadata = image_metadata({"prompt": "ünïcödé 🐯 " * 300, "seed": "7"})
    assert all(value.isascii() for value in metadata.values())
    assert sum(len(k) + len(v) for k, v in metadata.items()) <= 2048
    assert unquote(metadata["prompt"]).startswith("ünïcödé 🐯")
    assert metadata["seed"] == "7"
