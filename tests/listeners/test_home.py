"""The App Home tab, through http_handler as Slack opens it: a signed ``app_home_opened`` event
(https://docs.slack.dev/reference/events/app_home_opened: sent on every open of the App Home,
its ``tab`` naming the tab, with a ``view`` field once a Home view was published), then the
worker run on its queues as Lambda's event sources run it. The view lands at the strict Slack
stand-in through ``views.publish`` (https://docs.slack.dev/reference/methods/views.publish),
which checks it as Slack does and downloads every thumbnail in it.

Bolt answers an Events API request only once the listener returns (on Lambda), so the listener
makes no Web API call: the view is built and published by a ``home`` task. Slack retries an
event it thinks unanswered with the same ``event_id`` (https://api.slack.com/apis/events-api#retries).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.blocks import home_tab
from bot.local.signing import event_body
from bot.local.slack.views import MAX_VIEW_BLOCKS, MAX_VIEW_BYTES, view_problems
from bot.model.job import RECENT_LIMIT, Job, Progress
from bot.model.prompt import ImageRequest
from bot.model.task import Task
from bot.services import reset_process_services
from bot.stores.images import image_key
from tests.conftest import Stack, ack_json, call_http, command_event, event_request, slack_event

USER = "U0LOCAL"


def home_opened(
    user_id: str = USER, *, tab: str = "home", view: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``app_home_opened`` event: in the person's App Home (a DM channel), on ``tab``, with
    the Home view Slack holds, if one was published before."""
    ts = f"{time.time():.6f}"
    event: dict[str, Any] = {"type": "app_home_opened", "user": user_id, "channel": "D0APPHOME",
                             "event_ts": ts, "tab": tab}  # fmt: skip
    if view is not None:
        event["view"] = view
    return event


def open_home(env: Stack, event: dict[str, Any]) -> None:
    """Send the event; Slack gets its answer with no Web API call made before it."""
    before = len(env.slack.snapshot())
    response = call_http(slack_event(event))
    assert response["statusCode"] == 200, response
    assert env.slack.snapshot()[before:] == []


def imagine(env: Stack, text: str, user_id: str = USER) -> None:
    ack_json(call_http(command_event(text, user_id=user_id, response_url=env.slack.response_url())))
    env.settle()


def published(env: Stack, user_id: str = USER) -> dict[str, Any]:
    """The Home view Slack now shows ``user_id`` (accepted by the stand-in's checks)."""
    shown = env.slack.home_view(user_id)
    assert shown is not None, "no Home tab was published"
    return shown.view


def texts(view: dict[str, Any]) -> list[str]:
    """Every mrkdwn and plain_text string in the view, in order."""
    found: list[str] = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [element["text"] for element in block.get("elements", []) if "text" in element]
    return found


def listed(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The recent images' sections, newest first."""
    return [b for b in view["blocks"] if b.get("block_id", "").startswith(home_tab.RECENT_BLOCK)]


def thumbnails(view: dict[str, Any]) -> list[str]:
    return [
        b["accessory"]["image_url"] for b in view["blocks"] if b.get("accessory", {}).get("type") == "image"
    ]


def test_the_home_tab_shows_recent_images_newest_first_with_usage_and_the_options(env: Stack) -> None:
    env.slack.add_user(USER)  # an ordinary member
    imagine(env, "a paper crane --seed 5")
    imagine(env, "a red fox in the snow --seed 6 --ar 16:9")
    env.slack.clear()

    open_home(env, home_opened())
    [task] = [Task.from_json(body) for body in env.peek(env.resources.tasks_queue_url)]
    assert (task.kind, dict(task.fields)) == ("home", {"team_id": "T0LOCAL", "user_id": USER})
    env.settle()

    [publish] = env.slack.calls_to("views.publish")
    assert publish.ok and publish.args["user_id"] == USER
    view = published(env)
    first, second = listed(view)
    assert first["text"]["text"].startswith("*a red fox in the snow*\n16:9 · seed 6")
    assert second["text"]["text"].startswith("*a paper crane*\n1:1 · seed 5")
    for item in (first, second):
        assert "in <#C0LOCAL>" in item["text"]["text"]
        # chat.getPermalink's link to the result message
        assert "<https://local.slack.com/archives/C0LOCAL/p" in item["text"]["text"]
    # Thumbnails on the stable links, which Slack downloaded while it took the view.
    links = thumbnails(view)
    assert len(links) == 2 and all(link.startswith(f"{env.public_base_url}/images/") for link in links)
    assert [(f.url, f.ok) for f in env.slack.image_fetches] == [(link, True) for link in links]

    words = "\n".join(texts(view))
    assert "You have used 2 of your 50 images today. The count resets at 00:00 UTC (in " in words
    assert "`--ar W:H` aspect ratio" in words  # the options cheat-sheet
    assert "workspace" not in words  # an ordinary member sees their own usage only
    assert [c.ok for c in env.slack.calls_to("users.info")] == [True]


def test_every_open_publishes_the_view_afresh(env: Stack) -> None:
    """Slack sends the event on every open, with the view it holds: the newest build replaces it."""
    env.slack.add_user(USER)
    imagine(env, "a paper crane")
    open_home(env, home_opened())
    env.settle()
    before = env.slack.home_view(USER)
    assert before is not None

    imagine(env, "a lighthouse at dusk")
    open_home(env, home_opened(view=before.answer()))
    env.settle()
    view = published(env)
    assert [item["text"]["text"].split("\n")[0] for item in listed(view)] == [
        "*a lighthouse at dusk*",
        "*a paper crane*",
    ]
    assert "You have used 2 of your 50 images today" in "\n".join(texts(view))
    assert [c.ok for c in env.slack.calls_to("views.publish")] == [True, True]


@pytest.mark.parametrize("role", ["is_admin", "is_owner"])
def test_workspace_admins_and_owners_also_see_the_workspace_usage(env: Stack, role: str) -> None:
    env.slack.add_user(USER, **{role: True})
    env.slack.add_user("U0OTHER")
    imagine(env, "a paper crane")
    imagine(env, "a red fox --n 3", user_id="U0OTHER")

    open_home(env, home_opened())
    open_home(env, home_opened("U0OTHER"))
    env.settle()
    mine = "\n".join(texts(published(env)))
    assert "You have used 1 of your 50 images today" in mine
    assert "This workspace has used 4 of its 500 images today." in mine
    theirs = "\n".join(texts(published(env, "U0OTHER")))
    assert "You have used 3 of your 50 images today" in theirs and "workspace" not in theirs


def test_someone_with_no_images_gets_a_friendly_empty_state(env: Stack) -> None:
    env.slack.add_user("U0NEW")
    imagine(env, "a paper crane")  # someone else's
    open_home(env, home_opened("U0NEW"))
    env.settle()
    view = published(env, "U0NEW")
    words = "\n".join(texts(view))
    assert home_tab.EMPTY in words
    assert "You have used 0 of your 50 images today" in words
    assert listed(view) == [] and thumbnails(view) == []


def test_a_workspace_not_allowed_is_told_so_on_the_home_tab(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_TEAM_IDS", "T0ELSEWHERE")
    reset_process_services()
    open_home(env, home_opened())
    env.settle()
    words = "\n".join(texts(published(env)))
    assert "/imagine is not enabled for this workspace" in words and "of your 50 images" not in words


def test_a_retried_event_publishes_once(env: Stack) -> None:
    body = event_body(home_opened())
    assert call_http(event_request(body))["statusCode"] == 200
    assert call_http(event_request(body, retry=1))["statusCode"] == 200
    assert len(env.peek(env.resources.tasks_queue_url)) == 2  # the same task, twice
    env.settle()
    assert len(env.slack.calls_to("views.publish")) == 1


def test_a_prompt_is_shown_escaped(env: Stack) -> None:
    imagine(env, "<!channel> salt & pepper <b>shakers</b>")
    open_home(env, home_opened())
    env.settle()
    [item] = listed(published(env))
    text = item["text"]["text"]
    assert text.startswith("*&lt;!channel&gt; salt &amp; pepper &lt;b&gt;shakers&lt;/b&gt;*")
    assert not any("<!channel>" in words for words in texts(published(env)))


def test_the_messages_tab_publishes_nothing(env: Stack) -> None:
    open_home(env, home_opened(tab="messages"))
    assert env.peek(env.resources.tasks_queue_url) == []


def test_deleted_and_expired_results_are_left_out(env: Stack) -> None:
    imagine(env, "a paper crane")
    imagine(env, "a red fox")
    imagine(env, "a blue whale")
    store = env.services.store
    whale, fox, crane = store.recent("T0LOCAL", USER)
    # Delete keeps the record, marked, so that its links answer 410 Gone.
    store.mark_deleted(whale, time.time())
    # DynamoDB's TTL removed this one's record.
    env.services.dynamodb.delete_item(TableName=env.resources.table, Key={"pk": {"S": f"job#{crane}"}})
    # A result older than the bucket keeps images: its record outlives them by a day.
    request = ImageRequest(prompt="an old lighthouse", seed=1)
    old = Job.new(team_id="T0LOCAL", channel_id="C0LOCAL", user_id=USER, request=request,
                  now=time.time() - 91 * 86400)  # fmt: skip
    store.save(old, Progress(status="done", keys=[image_key("T0LOCAL", old.job_id, old.created, 0)]))
    store.note_recent(old)
    assert store.recent("T0LOCAL", USER) == [whale, fox, crane, old.job_id]
    env.slack.clear()

    open_home(env, home_opened())
    env.settle()
    view = published(env)
    [item] = listed(view)
    assert item["text"]["text"].startswith("*a red fox*")
    # Left out, not shown and refused: the one publish went through, the one thumbnail was fetched.
    assert [c.ok for c in env.slack.calls_to("views.publish")] == [True]
    assert [(f.url, f.ok) for f in env.slack.image_fetches] == [(thumbnails(view)[0], True)]


def test_a_thumbnail_slack_cannot_fetch_leaves_the_prompts(env: Stack) -> None:
    imagine(env, "a paper crane")
    imagine(env, "a red fox")
    env.slack.fail_image_downloads(1)
    open_home(env, home_opened())
    env.settle()
    assert [c.ok for c in env.slack.calls_to("views.publish")] == [False, True]
    view = published(env)
    assert len(listed(view)) == 2 and thumbnails(view) == []


def test_without_public_links_the_prompts_show_without_thumbnails(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upload delivery needs no PUBLIC_BASE_URL: then there is no link to show an image by."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    reset_process_services()
    imagine(env, "a paper crane")
    open_home(env, home_opened())
    env.settle()
    view = published(env)
    [item] = listed(view)
    assert item["text"]["text"].startswith("*a paper crane*") and thumbnails(view) == []


def test_the_recent_list_keeps_the_newest_ten_once_each(env: Stack) -> None:
    store = env.services.store
    now = time.time()
    jobs = [
        Job.new(
            team_id="T0LOCAL",
            channel_id="C0LOCAL",
            user_id=USER,
            now=now - n,
            request=ImageRequest(prompt=f"picture {n}", seed=n),
        )
        for n in range(RECENT_LIMIT + 2)
    ]  # jobs[0] is the newest
    for job in [*jobs[::-1][:6], *jobs[:6][::-1], jobs[0]]:  # out of order, and one twice
        store.note_recent(job)
    assert store.recent("T0LOCAL", USER) == [job.job_id for job in jobs[:RECENT_LIMIT]]
    assert store.recent("T0LOCAL", "U0OTHER") == []


def test_the_view_stays_within_slacks_limits() -> None:
    """The longest prompts, escaped at five times their length, every recent image, and the
    workspace line: still a view Slack takes (the stand-in's own checks, pure)."""
    request = ImageRequest(prompt="<&>" * 333, negative_prompt="&" * 1000, seed=7, count=4)
    link = "https://imagine.example/prod/images/" + "t" * 22 + "/T0LOCAL/2025/01/01/" + "f" * 32 + "/0.jpg"
    recent = tuple(
        home_tab.Recent(
            request,
            created_at=1_700_000_000 + n,
            channel_id="C0LOCAL",
            in_thread=bool(n % 2),
            thumbnail=link,
            permalink="https://local.slack.com/archives/C0LOCAL/p1700000000000100",
        )
        for n in range(RECENT_LIMIT * 2)
    )
    shown = home_tab.Home(
        user_id=USER,
        recent=recent,
        mine=home_tab.Count(9999, 50),
        workspace=home_tab.Count(0, 0),
        resets="at 00:00 UTC (in 1 h 2 min)",
        cheat_sheet="*Usage:* " + "x" * 2000,
    )
    view = home_tab.view(shown)
    assert view_problems(view) == []
    assert len(listed(view)) == RECENT_LIMIT and len(view["blocks"]) <= MAX_VIEW_BLOCKS
    assert len(json.dumps(view).encode()) < MAX_VIEW_BYTES
    words = "\n".join(texts(view))
    assert "You have used 50 of your 50 images today" in words
    assert "has made 0 images today; it has no daily limit" in words
    assert not any("<&>" in words for words in texts(view))
    # A date in the reader's time zone, with a UTC fallback.
    first = listed(view)[0]["text"]["text"]
    stamp = datetime.fromtimestamp(1_700_000_000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"<!date^1700000000^{{date_short_pretty}} at {{time}}|{stamp}>" in first
    # Nothing on the list is linked unless Slack gave the link.
    bare = home_tab.view(replace(shown, recent=(replace(recent[0], permalink="", thumbnail=""),)))
    assert "<https://" not in json.dumps(bare) and thumbnails(bare) == []
