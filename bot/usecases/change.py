"""Change… on an image: the form that asks what to change and into what, and its submission,
which queues the operation like any click (bot/usecases/follow_up.py). Nothing here calls Slack:
the listeners open the view and acknowledge with the answer."""

from __future__ import annotations

from typing import Any

from bot.blocks.change_form import REPLACEMENT, SEARCH, change_errors, change_fields, change_modal, target_of
from bot.model.operation import CHANGE
from bot.services import Services
from bot.usecases.follow_up import Clicked, finished_result, operate
from bot.usecases.modal import OUT_OF_DATE, Form, Submission
from bot.usecases.queue_render import ALREADY_RECEIVED

NOT_ON = "Change… is not available here any more."


def change_form(services: Services, click: Clicked) -> Form:
    """The Change… form for the clicked image, or why it does not open."""
    if CHANGE not in services.settings.operation_models:
        return Form(refusal=NOT_ON)
    found = finished_result(services, click)
    if not isinstance(found, tuple):
        return Form(refusal=str(found.payload.get("text", "")))
    job, progress = found
    prompt = job.request.operation.source_prompt if job.request.operation else job.request.prompt
    return Form(change_modal(job.job_id, click.index, prompt, len(progress.keys)))


def change_submitted(services: Services, submission: Submission) -> dict[str, Any]:
    """Queue the change the form asks for; the acknowledgement's body: empty to close the form,
    or the problems under the fields to fix (a refusal shows under "What to change")."""
    target = target_of(submission.private_metadata)
    if target is None:
        return change_errors({SEARCH: OUT_OF_DATE})
    fields = change_fields(submission.values)
    missing = {block: "Say it in a few words." for block, text in fields.items() if not text}
    if missing:
        return change_errors(missing)
    job_id, index = target
    click = Clicked(CHANGE, job_id, index, submission.team_id, submission.user_id)
    answer = operate(services, click, search=fields[SEARCH], replacement=fields[REPLACEMENT],
                     request_id=f"view#{submission.view_id}" if submission.view_id else "")  # fmt: skip
    if answer.job is not None or answer.payload.get("text") == ALREADY_RECEIVED:
        return {}
    return change_errors({SEARCH: str(answer.payload.get("text", ""))})
