"""The manual stays true: every setting the code reads is on docs/configuration.md and nothing
there is a setting the code no longer reads; every `imagine-bot` command and `make` target is
documented; every relative link in README.md and docs/ (and every docs page the code names in
an error) leads somewhere, anchors included."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The calls through which the code reads a setting: EnvReader's (bot/config/env.py) and a
# mapping's get/setdefault on the environment (what it only sets or removes, it does not read).
READERS = {"required", "optional", "choice", "integer", "number", "seconds_list", "id_list", "term_list",
           "get", "setdefault", "getenv"}  # fmt: skip
SETTING = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$|^PORT$")


def settings_read_by_the_code() -> dict[str, set[str]]:
    """Each environment variable a module of bot/ reads, with the modules that read it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = ""
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                method = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if method in READERS and isinstance(node.args[0].value, str):
                    name = node.args[0].value
            elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                  and isinstance(node.slice, ast.Constant)):  # fmt: skip
                target = node.value
                holder = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if holder in ("environ", "env") and isinstance(node.slice.value, str):
                    name = node.slice.value
            # A WSGI environ's HTTP_* keys are request headers, not settings.
            if SETTING.match(name) and not name.startswith("HTTP_"):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def documented_settings() -> set[str]:
    """The variables named in the first column of docs/configuration.md's tables."""
    names: set[str] = set()
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_setting_the_code_reads_is_documented_and_nothing_else() -> None:
    read, documented = settings_read_by_the_code(), documented_settings()
    assert {name: sorted(where) for name, where in read.items() if name not in documented} == {}
    assert sorted(documented - set(read)) == []


def test_the_reading_of_settings_finds_each_way_the_code_reads_one() -> None:
    """The scan above is what the first test trusts: it must see EnvReader's calls, environ.get,
    os.environ[...] and setdefault."""
    read = settings_read_by_the_code()
    assert {"JOBS_QUEUE_URL", "IMAGE_BACKEND", "RETRY_BACKOFF_SECONDS", "PORT"} <= set(read)
    assert "bot/config/settings.py" in read["IMAGE_BACKEND"]
    assert "HTTP_X_AMZ_TARGET" not in read


def _mentioned(words: str, text: str) -> bool:
    """``words`` stand in ``text`` as a whole: `make bench` is not said by `make benchmarks`."""
    return re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-])", text) is not None


def _documented_text() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def _help(*argv: str) -> str:
    from bot.local.cli import main

    said = io.StringIO()
    with contextlib.redirect_stdout(said), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return said.getvalue()


def _commands() -> list[str]:
    listed = re.search(r"\{([a-z,-]+)\}", _help())
    assert listed is not None
    return listed.group(1).split(",")


def test_every_imagine_bot_command_is_documented() -> None:
    commands = _commands()
    assert len(commands) >= 10
    text = _documented_text()
    assert [c for c in commands if not _mentioned(f"imagine-bot {c}", text)] == []


def test_every_imagine_bot_commands_help_ends_with_examples_of_it() -> None:
    for command in _commands():
        *_, examples = _help(command).rstrip().split("examples:\n")
        lines = examples.splitlines()
        assert lines and all(_mentioned(f"imagine-bot {command}", line) for line in lines), (command, lines)


def test_every_make_target_is_listed_by_make_help_and_documented() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):[^=\n]*?## ", makefile, flags=re.MULTILINE)
    phony = set(re.search(r"^\.PHONY: (.*)$", makefile, flags=re.MULTILINE).group(1).split())  # type: ignore[union-attr]
    assert set(targets) == phony  # every target make help lists, and only those
    text = _documented_text()
    assert [t for t in targets if t != "help" and not _mentioned(f"make {t}", text)] == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def _resolves(page: Path, target: str) -> bool:
    path, _, fragment = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.exists():
        return False
    return not fragment or destination.suffix != ".md" or fragment in _anchors(destination)


def test_every_relative_link_in_the_manual_resolves() -> None:
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if not re.match(r"^(https?:|mailto:)", target) and not _resolves(page, target):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_every_docs_page_the_code_names_exists() -> None:
    """Errors send the operator to a page (doctor's fixes, misconfiguration log lines)."""
    named = {
        match
        for path in (ROOT / "bot").rglob("*.py")
        for match in re.findall(r"docs/[a-z-]+\.md(?:#[a-z0-9-]+)?", path.read_text())
    }
    assert named
    assert sorted(n for n in named if not _resolves(ROOT / "README.md", n)) == []


def test_every_file_the_manual_names_exists() -> None:
    """`bot/...`, `tests/...::test_...`, `infra/...` in backquotes: the code the manual points to."""
    named = {
        (str(page.relative_to(ROOT)), path)
        for page in PAGES
        for path in re.findall(r"`((?:bot|tests|infra|bench|docs)/[\w./-]+?)(?:::[^`]*)?`", page.read_text())
    }
    assert len(named) > 20
    assert sorted((page, path) for page, path in named if not (ROOT / path.rstrip("/")).exists()) == []
