"""Share and Delete: the last two buttons of a result.

Every click is built from the message the bot actually posted (as the strict Slack stand-in
recorded and accepted it), the way Slack echoes a button's action_id, block_id and value back in
a signed block_actions payload (https://docs.slack.dev/reference/interaction-payloads/
block_actions-payload), and goes through http_handler. Nothing but views.open may reach Slack's
Web API before the acknowledgement, so Delete and Share's posting are tasks: the worker then runs
both of its queues, jobs and tasks, as Lambda's event sources run them (``env.settle()``).

Slack's side, as the stand-in plays it: chat.delete deletes only the bot's own messages
(docs.slack.dev/reference/methods/chat.delete), files.delete the bot's own files, answering
``file_deleted`` the second time (docs.slack.dev/reference/methods/files.delete),
chat.getPermalink gives a thread reply's link in its ``?thread_ts=...&cid=...`` form
(api.slack.com/methods/chat.getPermalink), users.info says ``is_admin`` / ``is_owner``
(docs.slack.dev/reference/methods/users.info), and a private channel the bot is not in answers
chat.postMessage with ``not_in_channel``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.blocks.callbacks import SHARE_CALLBACK
from bot.blocks.form import SHARE_TO
from bot.local.signing import submission_body
from bot.model.task import Task
from bot.services import reset_process_services
from bot.stores.images import image_link
from tests.conftest import LINK_SECRET, Stack, ack_json, call_http, command_event, http_event
from tests.slack_users import USER, click, imagine, job_id_on, latest_result, post_signed


def submit_share(env: Stack, view: dict[str, Any], channel: str, user_id: str = USER) -> dict[str, Any]:
    """Submit the Share modal with ``channel`` picked in its conversations_select."""
    body = submission_body(view, {SHARE_TO: channel}, user_id=user_id)
    before = len(env.slack.snapshot())
    response = post_signed(body)
    assert response["statusCode"] == 200, response
    assert env.slack.snapshot()[before:] == []  # a submission only queues
    return json.loads(response["body"]) if response["body"] else {}


def link_paths(message: dict[str, Any]) -> list[str]:
    """The image links' paths, as http_handler sees them behind the stage."""
    urls = [b["image_url"] for b in message["blocks"] if b["type"] == "image"]
    assert urls
    return [urlsplit(url).path.removeprefix("/prod") for url in urls]


def status_of(path: str) -> int:
    return int(call_http(http_event("http", "GET", path))["statusCode"])


def stored_link_paths(env: Stack, keys: list[str]) -> list[str]:
    """The stable links of stored images, for a result whose message shows none (its files do)."""
    urls = [image_link(env.public_base_url, LINK_SECRET, key) for key in keys]
    return [urlsplit(url).path.removeprefix("/prod") for url in urls]


def waiting_tasks(env: Stack, kind: str) -> list[Task]:
    tasks = [Task.from_json(body) for body in env.peek(env.resources.tasks_queue_url)]
    return [task for task in tasks if task.kind == kind]


# ---- the buttons ----------------------------------------------------------------------------------


def test_share_and_delete_follow_edit_on_the_whole_results_row_and_delete_asks_first(env: Stack) -> None:
    _, _, message = imagine(env, "a lighthouse --seed 41 --n 2")
    rows = {
        block["block_id"]: [(e["action_id"], e["text"]["text"]) for e in block["elements"]]
        for block in message["blocks"]
        if block["type"] == "actions"
    }
    assert [label for _, label in rows["imagine_actions"]] == [
        "Re-roll",
        "Variations",
        "Edit",
        "Share",
        "Delete",
    ]
    # Share and Delete act on the whole message, so an image's own row does not carry them.
    assert [label for _, label in rows["imagine_actions_1"]] == ["Re-roll 2", "Variations 2", "Edit 2"]
    [delete] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "imagine_delete"]  # fmt: skip
    assert delete["style"] == "danger" and delete["confirm"]["confirm"]["text"] == "Delete"
    assert delete["value"] == job_id_on(message)


# ---- Delete ---------------------------------------------------------------------------------------


def test_delete_by_the_requester_removes_the_message_and_the_images_and_the_links_answer_410(
    env: Stack,
) -> None:
    where = imagine(env, "a paper crane --seed 5 --n 2")
    channel, ts, message = where
    job_id = job_id_on(message)
    paths = link_paths(message)
    assert [status_of(path) for path in paths] == [302, 302]

    response, response_url = click(env, where, "imagine_delete")
    assert response["body"] == ""  # a bare acknowledgement: the message going is the answer
    [task] = waiting_tasks(env, "delete")
    assert dict(task.fields) == {"team_id": "T0LOCAL", "user_id": USER, "job_id": job_id,
                                 "response_url": response_url}  # fmt: skip
    env.settle()

    [deleted] = env.slack.calls_to("chat.delete")
    assert deleted.ok and (deleted.args["channel"], deleted.args["ts"]) == (channel, ts)
    assert env.slack.message(channel, ts) is None
    found = env.services.store.find(job_id)
    assert found is not None and found[0] is not None  # the record stays, so the links can tell
    progress = found[1]
    assert progress.deleted_at > 0 and len(progress.keys) == 2
    assert not any(env.services.images.exists(key) for key in progress.keys)
    assert [status_of(path) for path in paths] == [410, 410]
    assert env.slack.calls_to("users.info") == []  # the requester needs no admin check
    assert env.dead_letters() == []


@pytest.mark.parametrize("role", ["is_admin", "is_owner"])
def test_a_workspace_admin_or_owner_may_delete_someone_elses_picture(env: Stack, role: str) -> None:
    env.slack.add_user("U0ADMIN", **{role: True})
    where = imagine(env)
    click(env, where, "imagine_delete", user_id="U0ADMIN")
    env.settle()
    [asked] = env.slack.calls_to("users.info")
    assert asked.ok and asked.args["user"] == "U0ADMIN"
    assert env.slack.message(where[0], where[1]) is None
    assert [status_of(path) for path in link_paths(where[2])] == [410]


def test_anyone_else_is_refused_politely_and_nothing_is_deleted(env: Stack) -> None:
    env.slack.add_user("U0OTHER")  # an ordinary member
    where = imagine(env)
    channel, ts, message = where
    click(env, where, "imagine_delete", user_id="U0OTHER")
    env.settle()

    refusals = [c.args for c in env.slack.calls_to("response_url") if c.ok and "only" in str(c.args)]
    [refusal] = refusals
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert f"<@{USER}>" in refusal["text"] and "Nothing was changed" in refusal["text"]
    assert env.slack.calls_to("chat.delete") == []
    assert env.slack.message(channel, ts) is not None
    assert [status_of(path) for path in link_paths(message)] == [302]
    found = env.services.store.find(job_id_on(message))
    assert found is not None and found[1].deleted_at == 0.0
    assert all(env.services.images.exists(key) for key in found[1].keys)


def test_a_double_click_on_delete_queues_one_delete_and_a_later_one_is_harmless(env: Stack) -> None:
    env.slack.add_user("U0ADMIN", is_admin=True)
    where = imagine(env)
    click(env, where, "imagine_delete")
    click(env, where, "imagine_delete")
    assert len(waiting_tasks(env, "delete")) == 1
    env.settle()
    job_id = job_id_on(where[2])
    first = env.services.store.find(job_id)
    assert first is not None and first[1].deleted_at > 0

    # Another delete after it (an admin's, from a client that still shows the message).
    click(env, where, "imagine_delete", user_id="U0ADMIN")
    env.settle()
    again = env.services.store.find(job_id)
    assert again is not None and again[1].deleted_at == first[1].deleted_at  # the first time counts
    assert [c.error for c in env.slack.calls_to("chat.delete")] == ["", "message_not_found"]
    assert env.dead_letters() == []
    assert [status_of(path) for path in link_paths(where[2])] == [410]


def test_a_result_behind_a_response_url_is_deleted_through_the_clicks_own(env: Stack) -> None:
    """A channel closed to the bot: its result lives behind the command's response_url, so only
    the click's response_url can remove it (``delete_original``:
    docs.slack.dev/messaging/modifying-messages)."""
    env.slack.closed_channels.add("C0LOCAL")
    ack_json(call_http(command_event("a paper crane --seed 5", response_url=env.slack.response_url())))
    env.settle()
    [*_, shown] = [c for c in env.slack.calls_to("response_url") if c.ok and c.args.get("blocks")]
    assert "imagine_delete" in json.dumps(shown.args)
    # Slack gives that message a ts the bot never learns; the click carries it, the bot ignores it.
    click(env, ("C0LOCAL", "1700000000.000100", shown.args), "imagine_delete")
    env.settle()
    assert env.slack.calls_to("chat.delete") == []
    assert [status_of(path) for path in link_paths(shown.args)] == [410]
    [deletion] = [c for c in env.slack.calls_to("response_url") if c.args.get("delete_original")]
    assert deletion.ok and deletion.args == {"delete_original": True}


def test_delete_removes_the_files_an_upload_delivered_and_a_second_delete_is_harmless(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGE_DELIVERY=upload: the pictures are Slack files in the result's thread, and they go
    with it; the message saying where they are goes too, and the links answer 410."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    env.slack.add_user("U0ADMIN", is_admin=True)
    where = imagine(env, "a paper crane --seed 5 --n 2")
    channel, ts, message = where
    job_id = job_id_on(message)
    shared = list(env.slack.files)
    assert len(shared) == 2 and {f.thread_ts for f in shared} == {ts}
    found = env.services.store.find(job_id)
    assert found is not None and found[1].files == [f.file_id for f in shared]  # recorded with the result
    paths = stored_link_paths(env, found[1].keys)
    assert [status_of(path) for path in paths] == [302, 302]

    click(env, where, "imagine_delete")
    env.settle()
    deleted = env.slack.calls_to("files.delete")
    assert [(c.args["file"], c.ok) for c in deleted] == [(f.file_id, True) for f in shared]
    assert env.slack.files == []  # gone from the thread
    assert env.slack.message(channel, ts) is None
    assert [status_of(path) for path in paths] == [410, 410]

    # Another delete after it (an admin's, from a client that still shows the message).
    click(env, where, "imagine_delete", user_id="U0ADMIN")
    env.settle()
    assert [c.error for c in env.slack.calls_to("files.delete")] == ["", "", "file_deleted", "file_deleted"]
    assert env.dead_letters() == []
    assert [status_of(path) for path in paths] == [410, 410]


def test_delete_removes_the_files_uploaded_when_slack_could_not_download_the_links(env: Stack) -> None:
    """Link delivery falls back to uploading the JPEGs into the thread when Slack never manages
    to download the image links: those files are the result's too, and Delete takes them."""
    env.slack.fail_image_downloads(None)
    where = imagine(env, "a paper crane --seed 5")
    env.slack.fail_image_downloads(0)
    channel, ts, message = where
    [shared] = env.slack.files
    assert shared.thread_ts == ts
    found = env.services.store.find(job_id_on(message))
    assert found is not None and found[1].files == [shared.file_id]

    click(env, where, "imagine_delete")
    env.settle()
    [deleted] = env.slack.calls_to("files.delete")
    assert deleted.ok and deleted.args["file"] == shared.file_id
    assert env.slack.files == []
    assert env.slack.message(channel, ts) is None
    assert [status_of(path) for path in stored_link_paths(env, found[1].keys)] == [410]
    assert env.dead_letters() == []


def test_a_file_slack_will_not_delete_leaves_the_delete_task_to_be_tried_again(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a file gone already is taken as deleted; any other refusal fails the task, and the
    next delivery of it deletes what is left."""
    monkeypatch.setenv("IMAGE_DELIVERY", "upload")
    reset_process_services()
    where = imagine(env)
    env.slack.fail("files.delete", error="internal_error")
    click(env, where, "imagine_delete")
    env.settle()
    assert [c.error for c in env.slack.calls_to("files.delete")] == ["internal_error", ""]
    assert env.slack.files == []
    assert env.slack.message(where[0], where[1]) is None
    assert env.dead_letters() == []


# ---- Share ----------------------------------------------------------------------------------------


def test_share_from_a_thread_posts_the_result_in_the_channel_saying_who_and_linking_back(env: Stack) -> None:
    root = imagine(env)
    channel, root_ts, _ = root
    click(env, root, "imagine_reroll")
    env.settle()
    reply = latest_result(env)
    assert reply[1] != root_ts
    reply_job = job_id_on(reply[2])

    click(env, reply, "imagine_share", user_id="U0OTHER")
    assert env.slack.calls_to("views.open") == []  # in a thread, no picker: it goes to the channel
    [task] = waiting_tasks(env, "share")
    assert (task.fields["channel_id"], task.fields["job_id"]) == (channel, reply_job)
    env.settle()

    [link] = env.slack.calls_to("chat.getPermalink")
    assert link.ok and (link.args["channel"], link.args["message_ts"]) == (channel, reply[1])
    [shared] = [
        c for c in env.slack.calls_to("chat.postMessage") if c.ok and "shared" in c.args.get("text", "")
    ]
    assert shared.args["channel"] == channel and "thread_ts" not in shared.args  # the channel itself
    text = json.dumps(shared.args["blocks"])
    assert "<@U0OTHER> shared" in text
    permalink = f"https://local.slack.com/archives/{channel}/p{reply[1].replace('.', '')}"
    assert f"<{permalink}?thread_ts={root_ts}&amp;cid={channel}|" in text  # back to the thread result
    assert [b["image_url"] for b in shared.args["blocks"] if b["type"] == "image"] == [
        b["image_url"] for b in reply[2]["blocks"] if b["type"] == "image"
    ]  # the same stable links, which the stand-in downloaded as Slack would
    assert job_id_on(shared.args) == reply_job  # with the result's buttons
    found = env.services.store.find(reply_job)
    assert found is not None and len(found[1].shared) == 1


def test_share_from_the_channel_opens_a_picker_and_posts_where_it_points_with_a_permalink(env: Stack) -> None:
    where = imagine(env)
    channel, ts, _ = where
    click(env, where, "imagine_share")
    [opened] = env.slack.calls_to("views.open")
    assert opened.ok
    [view] = [v.answer() for v in env.slack.modal_stack(USER)]
    assert view["callback_id"] == SHARE_CALLBACK
    [picker] = [b["element"] for b in view["blocks"] if b.get("block_id") == SHARE_TO]
    assert picker["type"] == "conversations_select"
    assert picker["filter"] == {"include": ["public", "private"], "exclude_bot_users": True}
    assert picker["default_to_current_conversation"] is False
    assert waiting_tasks(env, "share") == []  # nothing until a channel is picked

    assert submit_share(env, view, "C0DESIGN") == {}  # the modal closes
    env.settle()
    [shared] = [c for c in env.slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == "C0DESIGN"]
    text = json.dumps(shared.args["blocks"])
    assert f"<@{USER}> shared" in text
    assert f"<https://local.slack.com/archives/{channel}/p{ts.replace('.', '')}|" in text
    [told] = [c.args for c in env.slack.calls_to("chat.postEphemeral") if c.ok]
    assert (told["channel"], told["user"]) == (channel, USER) and "<#C0DESIGN>" in told["text"]

    # Shared where it already is: said on the form, which stays open.
    click(env, where, "imagine_share")
    again = env.slack.modal_stack(USER)[-1].answer()
    assert submit_share(env, again, channel)["errors"][SHARE_TO].startswith("This picture is already")


def test_sharing_into_a_private_channel_the_bot_is_not_in_says_why_where_the_sharer_clicked(
    env: Stack,
) -> None:
    env.slack.closed_channels.add("G0SECRET")
    where = imagine(env)
    click(env, where, "imagine_share")
    view = env.slack.modal_stack(USER)[-1].answer()
    assert submit_share(env, view, "G0SECRET") == {}
    env.settle()
    [refused] = [c for c in env.slack.calls_to("chat.postMessage") if c.args["channel"] == "G0SECRET"]
    assert refused.error == "not_in_channel"
    [told] = [c.args for c in env.slack.calls_to("chat.postEphemeral") if c.ok]
    assert (told["channel"], told["user"]) == (where[0], USER)
    assert "<#G0SECRET>" in told["text"] and "private channel I'm not in" in told["text"]
    assert "/invite @imagine" in told["text"]
    assert env.dead_letters() == []
    found = env.services.store.find(job_id_on(where[2]))
    assert found is not None and found[1].shared == []


def test_delete_removes_the_shared_copies_too_and_a_deleted_picture_cannot_be_shared(env: Stack) -> None:
    where = imagine(env)
    job_id = job_id_on(where[2])
    click(env, where, "imagine_share")
    submit_share(env, env.slack.modal_stack(USER)[-1].answer(), "C0DESIGN")
    env.settle()
    found = env.services.store.find(job_id)
    assert found is not None
    [copy] = found[1].shared
    assert copy["channel"] == "C0DESIGN" and env.slack.message(copy["channel"], copy["ts"]) is not None

    click(env, where, "imagine_delete")
    env.settle()
    assert env.slack.message(copy["channel"], copy["ts"]) is None
    assert env.slack.message(where[0], where[1]) is None

    # A client still showing the message: Share says it is gone, and opens nothing.
    click(env, where, "imagine_share")
    assert len(env.slack.calls_to("views.open")) == 1
    [said] = [
        c.args for c in env.slack.calls_to("response_url") if c.ok and "no longer available" in str(c.args)
    ]
    assert said["response_type"] == "ephemeral"


@pytest.mark.parametrize("button", ["imagine_reroll", "imagine_variations", "imagine_edit"])
def test_a_deleted_picture_cannot_be_re_rolled_varied_or_edited(env: Stack, button: str) -> None:
    """A click that still carries a deleted job's id (an old copy of the message, a second
    window) renders nothing: the job's record says it is gone."""
    where = imagine(env)
    click(env, where, "imagine_delete")
    env.settle()

    click(env, where, button)

    assert env.queued_bodies() == []
    assert env.slack.calls_to("views.open") == []
    answers = [json.dumps(c.args) for c in env.slack.calls_to("response_url") if c.ok]
    assert sum("no longer available" in answer for answer in answers) == 1
