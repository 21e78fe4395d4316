"""The image operations (Upscale, Vary (Subtle), Vary (Strong), Zoom Out, Change…) on the
placeholder: buttons only where an operation is on, each click built from the message the bot
really posted and sent through http_handler, the worker run as Lambda's event sources run it,
and the result read back through its stable link and compared with the image it started from.

The same operations on Bedrock and SageMaker are in tests/backends/test_operation_backends.py.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from bot.services import reset_process_services
from tests.conftest import Stack, open_link
from tests.slack_users import USER, Where, buttons, click, imagine, latest_result, post_signed, queued_jobs

ALL_ON = {"UPSCALE_MODEL": "placeholder", "VARY_MODEL": "placeholder", "ZOOM_MODEL": "placeholder",
          "CHANGE_MODEL": "placeholder"}  # fmt: skip
EDITS = "imagine_edits"  # the block_id of a single image's row of operations


@pytest.fixture
def ops(env: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for name, value in ALL_ON.items():
        monkeypatch.setenv(name, value)
    reset_process_services()
    return env


def images_of(message: dict[str, Any]) -> list[Image.Image]:
    """The images a result shows, read through their stable links as a browser would."""
    links = [b["image_url"] for b in message["blocks"] if b["type"] == "image"]
    assert links, message
    return [Image.open(io.BytesIO(open_link(link))).convert("RGB") for link in links]


def difference(a: Image.Image, b: Image.Image) -> float:
    """The mean difference of two images' pixels (0 to 255), ``b`` brought to ``a``'s size."""
    diff = ImageChops.difference(a, b.resize(a.size, Image.Resampling.BILINEAR))
    return sum(ImageStat.Stat(diff).mean) / 3


def headline(message: dict[str, Any]) -> str:
    return str(message["blocks"][0]["text"]["text"])


def said_to_clicker(env: Stack, words: str) -> list[dict[str, Any]]:
    return [
        c.args
        for c in env.slack.calls_to("response_url")
        if c.ok and words in json.dumps(c.args, ensure_ascii=False)
    ]


def operate(env: Stack, where: Where, action_id: str, block_id: str = EDITS) -> Where:
    """Click an operation and let the worker finish it; the result it posted."""
    click(env, where, action_id, block_id=block_id)
    env.settle()
    return latest_result(env)


def test_no_operation_button_while_no_model_is_set(env: Stack) -> None:
    where = imagine(env, "a paper crane --seed 5 --n 2")
    assert not any(block.startswith(EDITS) for block, *_ in buttons(where[2]))


def test_each_operation_that_is_on_has_its_button_with_its_label_and_only_the_job_id(
    env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSCALE_MODEL", "placeholder")
    monkeypatch.setenv("ZOOM_MODEL", "placeholder")
    reset_process_services()
    single = imagine(env, "a paper crane --seed 5")
    [job_id] = {value for *_, value in buttons(single[2])}
    assert [(b, a, t) for b, a, t, _ in buttons(single[2]) if b.startswith(EDITS)] == [
        (EDITS, "imagine_upscale", "Upscale"),
        (EDITS, "imagine_zoom_out", "Zoom Out"),
    ]
    assert len(job_id) == 32

    for name, value in ALL_ON.items():
        monkeypatch.setenv(name, value)
    reset_process_services()
    several = imagine(env, "a lighthouse --seed 41 --n 2")
    rows = [(b, t) for b, _, t, _ in buttons(several[2]) if b.startswith(EDITS)]
    assert rows == [
        (f"{EDITS}_{n}", f"{label} {n + 1}")
        for n in range(2)
        for label in ("Upscale", "Vary (Subtle)", "Vary (Strong)", "Zoom Out", "Change…")
    ]
    # Each image's rows follow it: image, its follow-ups, its operations.
    kinds = [b["type"] for b in several[2]["blocks"]]
    assert kinds[1:7] == ["image", "actions", "actions", "image", "actions", "actions"]


def test_upscale_posts_the_same_image_four_times_larger_in_the_results_thread(ops: Stack) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    [source] = images_of(where[2])
    upscaled = operate(ops, where, "imagine_upscale")

    assert upscaled[1] != where[1]
    [image] = images_of(upscaled[2])
    assert image.size == (4 * source.width, 4 * source.height) == (2048, 2048)
    assert difference(source, image) < 3  # the same picture, larger
    assert "Upscaled 4× from *a paper crane*" in headline(upscaled[2])
    replies = [c for c in ops.slack.calls_to("chat.postMessage") if c.ok and c.args.get("thread_ts")]
    assert [c.args["thread_ts"] for c in replies] == [where[1]]
    # A result like any other: its own buttons, operations included.
    assert {a for _, a, _, _ in buttons(upscaled[2])} >= {
        "imagine_zoom_out",
        "imagine_share",
        "imagine_delete",
    }


def test_an_image_that_cannot_grow_twice_as_large_is_refused_before_anything_is_queued(ops: Stack) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    twice = operate(ops, operate(ops, where, "imagine_upscale"), "imagine_upscale")
    assert images_of(twice[2])[0].size == (4096, 4096)

    click(ops, twice, "imagine_upscale", block_id=EDITS)
    assert queued_jobs(ops) == []
    [said] = said_to_clicker(ops, "already 4096×4096")
    assert "Nothing was queued" in said["text"] and said["response_type"] == "ephemeral"


def test_vary_keeps_the_prompt_and_the_count_and_starts_from_the_clicked_image(ops: Stack) -> None:
    where = imagine(ops, "a lighthouse --seed 41 --n 2 --no fog")
    sources = images_of(where[2])
    click(ops, where, "imagine_vary_subtle", block_id=f"{EDITS}_1")
    [job] = queued_jobs(ops)
    operation = job.request.operation
    assert operation is not None and (operation.kind, operation.source_index, operation.source_count) == (
        "vary_subtle", 1, 2,
    )  # fmt: skip
    assert (job.request.prompt, job.request.negative_prompt, job.request.count) == ("a lighthouse", "fog", 2)
    assert operation.source_key.endswith("/1.jpg") and job.thread_ts == where[1]

    ops.settle()
    subtle = latest_result(ops)
    varied = images_of(subtle[2])
    assert len(varied) == 2 and "Varied (subtle) from image 2 of *a lighthouse*" in headline(subtle[2])
    # Close to the clicked image, nearer it than to the other one, and each variation its own.
    assert all(difference(sources[1], v) < difference(sources[0], v) for v in varied)
    assert all(difference(sources[1], v) > 0 for v in varied) and difference(varied[0], varied[1]) > 0

    strong = operate(ops, where, "imagine_vary_strong", block_id=f"{EDITS}_1")
    assert difference(sources[1], images_of(strong[2])[0]) > max(difference(sources[1], v) for v in varied)


def test_zoom_out_doubles_each_side_with_the_original_unchanged_in_the_middle(ops: Stack) -> None:
    where = imagine(ops, "a paper crane --seed 5 --ar 16:9")
    [source] = images_of(where[2])
    zoomed = operate(ops, where, "imagine_zoom_out")
    [image] = images_of(zoomed[2])
    assert image.size == (2 * source.width, 2 * source.height)
    left, up = source.width // 2, source.height // 2
    middle = image.crop((left, up, left + source.width, up + source.height))
    assert difference(source, middle) < 3
    assert "Zoomed out 2× from *a paper crane*" in headline(zoomed[2])


def change_form(env: Stack, where: Where, block_id: str = EDITS) -> dict[str, Any]:
    click(env, where, "imagine_change", block_id=block_id)
    [*_, top] = env.slack.modal_stack(USER)
    view: dict[str, Any] = top.answer()
    return view


def submit_change(env: Stack, view: dict[str, Any], search: str, replacement: str) -> dict[str, Any]:
    typed = {"change_search": search, "change_replacement": replacement}
    response = post_signed(env.slack.submission(USER, typed, view_id=view["id"]))
    assert response["statusCode"] == 200, response
    answer: dict[str, Any] = json.loads(response["body"]) if response["body"] else {}
    assert env.slack.submitted(USER, view["id"], answer) == {}
    return answer


def test_change_opens_a_form_and_renders_the_image_with_that_part_replaced(ops: Stack) -> None:
    where = imagine(ops, "a cat on a sofa --seed 5")
    view = change_form(ops, where)
    assert [b.get("label", {}).get("text") for b in view["blocks"] if b["type"] == "input"] == [
        "What to change", "Into what",
    ]  # fmt: skip
    assert submit_change(ops, view, "the cat", "a corgi") == {}
    [job] = queued_jobs(ops)
    assert job.request.operation is not None
    assert (job.request.operation.search, job.request.operation.replacement) == ("the cat", "a corgi")

    ops.settle()
    changed = latest_result(ops)
    assert "Changed “the cat” into “a corgi” from *a cat on a sofa*" in headline(changed[2])
    [source], [image] = images_of(where[2]), images_of(changed[2])
    assert image.size == source.size and difference(source, image) > 0


def test_change_checks_its_words_against_the_blocked_terms_and_keeps_the_form_open(
    ops: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = imagine(ops, "a cat on a sofa --seed 5")
    monkeypatch.setenv("BLOCKED_TERMS", "gore")
    reset_process_services()
    answer = submit_change(ops, change_form(ops, where), "the cat", "gore")
    assert answer["response_action"] == "errors" and "not allowed here" in answer["errors"]["change_search"]
    assert submit_change(ops, change_form(ops, where), "the cat", "") == {
        "response_action": "errors", "errors": {"change_replacement": "Say it in a few words."},
    }  # fmt: skip
    assert queued_jobs(ops) == []


def test_a_double_click_queues_one_operation(ops: Stack) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    click(ops, where, "imagine_upscale", block_id=EDITS)
    click(ops, where, "imagine_upscale", block_id=EDITS)
    assert len(queued_jobs(ops)) == 1


def test_a_deleted_image_cannot_be_worked_on_and_nothing_is_queued(ops: Stack) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    click(ops, where, "imagine_delete")
    ops.settle()
    click(ops, where, "imagine_zoom_out", block_id=EDITS)
    assert queued_jobs(ops) == []
    [said] = said_to_clicker(ops, "no longer available")
    assert said["response_type"] == "ephemeral"


def test_an_operation_turned_off_since_its_button_was_posted_says_so(
    ops: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    monkeypatch.delenv("ZOOM_MODEL")
    reset_process_services()
    click(ops, where, "imagine_zoom_out", block_id=EDITS)
    assert queued_jobs(ops) == []
    assert said_to_clicker(ops, "not available here")


def test_an_operation_counts_the_images_it_makes_against_the_clickers_quota(
    ops: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = imagine(ops, "a lighthouse --seed 41 --n 2")
    monkeypatch.setenv("DAILY_IMAGES_PER_USER", "3")
    reset_process_services()
    click(ops, where, "imagine_vary_subtle", block_id=f"{EDITS}_0")  # two more: four
    assert queued_jobs(ops) == []
    assert said_to_clicker(ops, "this request needs 2 images; 1 left")
    click(ops, where, "imagine_upscale", block_id=f"{EDITS}_0")  # one more: three
    assert len(queued_jobs(ops)) == 1


def test_an_operations_result_is_on_the_home_tab_and_delete_removes_it_alone(ops: Stack) -> None:
    from tests.listeners.test_home import home_opened, listed, open_home, published

    where = imagine(ops, "a paper crane --seed 5")
    upscaled = operate(ops, where, "imagine_upscale")
    open_home(ops, home_opened())
    ops.settle()
    newest = listed(published(ops))[0]["text"]["text"]
    assert newest.startswith("*a paper crane*") and "Upscaled 4×" in newest

    click(ops, upscaled, "imagine_delete")
    ops.settle()
    stored = ops.stored()
    assert [
        key for key in stored if upscaled[2]["blocks"][1]["image_url"].endswith(key.removeprefix("images/"))
    ] == []
    assert len(stored) == 1  # the image it was made from stays
    assert images_of(where[2])[0].size == (512, 512)


def test_re_roll_on_an_operations_result_does_it_again_with_a_click_on_its_images_checks(
    ops: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = imagine(ops, "a paper crane --seed 5")
    varied = operate(ops, where, "imagine_vary_subtle")

    again = operate(ops, varied, "imagine_reroll", block_id="imagine_actions")
    assert again[1] not in (where[1], varied[1]) and "Varied (subtle) from *a paper crane*" in headline(
        again[2]
    )
    assert images_of(again[2])[0].tobytes() != images_of(varied[2])[0].tobytes()  # a new seed

    monkeypatch.delenv("VARY_MODEL")  # turned off since: the re-roll is refused, as a click on the image
    reset_process_services()
    click(ops, varied, "imagine_reroll")
    assert queued_jobs(ops) == [] and said_to_clicker(ops, "not available here")

    monkeypatch.setenv("VARY_MODEL", "placeholder")
    reset_process_services()
    click(ops, where, "imagine_delete")  # the image it was made from, deleted
    ops.settle()
    click(ops, varied, "imagine_reroll")
    assert queued_jobs(ops) == [] and said_to_clicker(ops, "no longer available")
