"""The playground in a real browser: Debian's Chromium (CHROMIUM, else /usr/bin/chromium) driven by
Playwright, against `imagine-bot run` as a person starts it. A newcomer's path: make a picture,
re-roll it, see the thread, use the form, upscale and change it, delete, the Home tab; and a
prompt full of markup shown as the inert text it is. Screenshots go to SCREENSHOTS_DIR when set
(docs/ keeps them), else to the test's own temporary directory."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect, sync_playwright

from tests.local.test_playground import Running, start_run

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 60_000  # ms: for anything the worker does, generous on a busy machine


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_run(tmp_path_factory.mktemp("playground-browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make pytest`, which installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, run: Running) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(run.url + "/")
    yield page
    context.close()
    assert not problems, problems  # no script error on the page


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def send(page: Page, text: str, *, composer: str = "#composer-input") -> None:
    page.fill(composer, text)
    page.press(composer, "Enter")


def result(where: Locator, prompt: str) -> Locator:
    """The bot's result for ``prompt`` in the channel or thread ``where``: its image is there."""
    return where.locator(".message", has_text=f"imagined {prompt}").filter(
        has=where.page.locator("img.block-image")
    )


def loaded(page: Page, image: Locator) -> None:
    """Wait until ``image`` is really loaded, through the bot's link, and drawn."""
    expect(image).to_be_visible(timeout=WAIT)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=WAIT
    )


@pytest.mark.spawns
def test_a_command_its_image_a_re_roll_and_the_thread(page: Page, shots: Path) -> None:
    channel = page.locator("#messages")

    send(page, "/imagine a paper crane over a misty lake --ar 16:9")  # 1. typed, Enter sends

    expect(channel.locator(".message.ephemeral", has_text="Queued a paper crane")).to_contain_text(
        "Only visible to you", timeout=WAIT
    )
    first = result(channel, "a paper crane over a misty lake")
    loaded(page, first.locator("img.block-image"))  # 2. the image loads
    expect(first.locator(".context")).to_contain_text("680×384 (16:9)")
    page.screenshot(path=shots / "playground-channel.png")

    first.get_by_role("button", name="Re-roll", exact=True).click()  # 3. Re-roll

    replies = first.locator(".replies")
    expect(replies).to_have_text(re.compile(r"^1 reply"), timeout=WAIT)
    replies.click()
    thread = page.locator("#thread-messages")
    expect(thread.locator(".message")).to_have_count(2, timeout=WAIT)
    reroll = thread.locator(".message").nth(1)
    loaded(page, reroll.locator("img.block-image"))  # 4. the new image, in the thread
    seeds = [re.search(r"seed (\d+)", text) for text in (first.inner_text(), reroll.inner_text())]
    assert seeds[0] and seeds[1] and seeds[0][1] != seeds[1][1]
    page.screenshot(path=shots / "playground-thread.png")


@pytest.mark.spawns
def test_the_form_opens_with_an_empty_command_and_its_result_arrives(page: Page, shots: Path) -> None:
    send(page, "/imagine")  # 5. the form

    modal = page.locator(".modal")
    expect(modal.locator("h2")).to_have_text("Imagine", timeout=WAIT)
    modal.get_by_role("button", name="Imagine").click()
    expect(modal.locator("[data-block-id=imagine_prompt] .error")).to_have_text(
        "Please complete this required field."
    )
    modal.get_by_label("Prompt").fill("a lantern festival over the river")
    modal.get_by_label("Aspect ratio").select_option("3:2")
    page.screenshot(path=shots / "playground-modal.png")
    modal.get_by_label("Steps").fill("500")
    modal.get_by_role("button", name="Imagine").click()
    expect(modal.locator("[data-block-id=imagine_steps] .error")).to_have_text(
        "Steps must be a whole number from 1 to 50.", timeout=WAIT
    )  # the app's own answer, under its field
    modal.get_by_label("Steps").fill("25")
    modal.get_by_role("button", name="Imagine").click()

    expect(modal).to_have_count(0, timeout=WAIT)
    made = result(page.locator("#messages"), "a lantern festival over the river")
    loaded(page, made.locator("img.block-image"))
    expect(made.locator(".context")).to_contain_text("624×416 (3:2)")


@pytest.mark.spawns
def test_a_prompt_full_of_markup_is_shown_as_inert_text(page: Page) -> None:
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    scripts = page.evaluate("document.scripts.length")
    prompt = "<!channel> <script>alert(1)</script> <b>loud</b> & <https://evil.example|a link>"

    send(page, f"/imagine {prompt}")  # 6.

    shown = page.locator("#messages .message", has_text="imagined <!channel> <script>")
    loaded(page, shown.locator("img.block-image"))
    headline = shown.locator(".section .text").first
    expect(headline).to_have_text(f"@local-user imagined {prompt}")  # every character, as typed
    assert headline.locator("script, b, a, .mention.special").count() == 0
    assert page.locator(".mention.special").count() == 0  # nobody was pinged
    assert page.evaluate("document.scripts.length") == scripts
    assert page.evaluate("document.querySelectorAll('#messages script, #messages b').length") == 0
    assert not dialogs


@pytest.mark.spawns
def test_delete_asks_first_then_the_message_is_gone(page: Page) -> None:
    send(page, "/imagine a sandcastle at low tide")
    made = result(page.locator("#messages"), "a sandcastle at low tide")
    loaded(page, made.locator("img.block-image"))

    made.get_by_role("button", name="Delete").click()
    dialog = page.locator(".confirm")
    expect(dialog).to_contain_text("Delete this picture?")
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_have_count(0)
    expect(made).to_have_count(1)  # kept
    made.get_by_role("button", name="Delete").click()
    page.locator(".confirm").get_by_role("button", name="Delete").click()

    expect(made).to_have_count(0, timeout=WAIT)


@pytest.mark.spawns
def test_the_home_tab_shows_what_you_made(page: Page) -> None:
    send(page, "/imagine a glass teapot")
    loaded(page, result(page.locator("#messages"), "a glass teapot").locator("img.block-image"))

    page.locator("#nav-home").click()

    home = page.locator("#home-view")
    expect(home.locator(".header-block").first).to_have_text("Your images", timeout=WAIT)
    expect(home).to_contain_text("a glass teapot", timeout=WAIT)
    loaded(page, home.locator("img.accessory-image").first)
    page.locator("#nav-general").click()
    expect(page.locator("#messages")).to_be_visible()


@pytest.mark.spawns
def test_upscale_and_change_from_the_buttons_under_an_image(page: Page, shots: Path) -> None:
    """The image operations are on in the playground (the placeholder does them): Upscale posts the
    same picture four times as wide into the thread, and Change… opens its form."""
    send(page, "/imagine a tiny robot in a greenhouse --ar 3:2")
    made = result(page.locator("#messages"), "a tiny robot in a greenhouse")
    image = made.locator("img.block-image")
    loaded(page, image)
    width = page.evaluate("img => img.naturalWidth", image.element_handle())

    made.get_by_role("button", name="Upscale", exact=True).click()
    replies = made.locator(".replies")
    expect(replies).to_have_text(re.compile(r"^1 reply"), timeout=WAIT)
    replies.click()
    upscaled = page.locator(
        "#thread-messages .message", has_text="Upscaled 4× from a tiny robot in a greenhouse"
    )
    larger = upscaled.locator("img.block-image")
    loaded(page, larger)
    assert page.evaluate("img => img.naturalWidth", larger.element_handle()) == 4 * width

    made.get_by_role("button", name="Change…", exact=True).click()
    modal = page.locator(".modal")
    expect(modal.locator("h2")).to_have_text("Change…", timeout=WAIT)
    modal.get_by_label("What to change").fill("the robot")
    modal.get_by_label("Into what").fill("a watering can")
    page.screenshot(path=shots / "playground-change.png")
    modal.get_by_role("button", name="Change", exact=True).click()
    expect(modal).to_have_count(0, timeout=WAIT)
    changed = page.locator("#thread-messages .message", has_text="Changed “the robot” into “a watering can”")
    loaded(page, changed.locator("img.block-image"))


@pytest.fixture(scope="module")
def run_workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_run(tmp_path_factory.mktemp("playground-browser-workspaces"), "--workspaces")


@pytest.mark.spawns
def test_add_to_slack_in_the_browser_installs_the_app_and_comes_back_to_the_workspace(
    browser: Browser, run_workspaces: Running, shots: Path
) -> None:
    """`imagine-bot run --workspaces`: the app is installed in no workspace yet. The person picks
    Other Workspace, follows Add to Slack through the app's install page (Bolt sets its state
    cookie, Secure, which Chromium keeps on http://127.0.0.1), Slack's authorize step and the
    redirect back, lands in that workspace's #general again, and the bot answers there."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(run_workspaces.url + "/")
    page.locator("#workspace-T0OTHER").click()
    expect(page.locator("#workspace-name")).to_have_text("Other Workspace")
    banner = page.locator("#install")
    expect(banner).to_contain_text("imagine is not installed in Other Workspace yet.")
    expect(page.locator("#workspace-T0OTHER")).to_contain_text("not installed")
    page.screenshot(path=shots / "playground-add-to-slack.png")

    banner.get_by_role("link", name="Add to Slack").click()  # the app's /slack/install page
    page.get_by_role("link", name="Add to Slack").click()  # its link to Slack's authorize step

    page.wait_for_url(run_workspaces.url + "/", timeout=WAIT)  # the install's last page sends it back
    expect(page.locator("#workspace-name")).to_have_text("Other Workspace", timeout=WAIT)
    expect(banner).to_be_hidden(timeout=WAIT)
    expect(page.locator("#workspace-T0OTHER")).not_to_contain_text("not installed")
    expect(page.locator("#workspace-T0LOCAL")).to_contain_text("not installed")
    send(page, "/imagine a kite over two valleys")
    loaded(page, result(page.locator("#messages"), "a kite over two valleys").locator("img.block-image"))
    expect(page.locator("#messages .message", has_text="@other-user imagined")).to_have_count(1)
    context.close()
