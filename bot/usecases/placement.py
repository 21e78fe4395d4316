"""Where a new render made from a result goes (Edit, Re-roll, Variations): next to that result.

A thread lives in one conversation, so the thread ts of a result only means something in the
conversation the result is in; the channel and the ts are therefore decided together, here.
"""

from __future__ import annotations

from bot.model.guards import place_refusal
from bot.model.job import Job
from bot.services import Services


def next_to_result(services: Services, job: Job, where: dict[str, str]) -> tuple[str, str]:
    """The channel and thread ts for a render made from ``job``'s result, ``where`` being the
    result's message (its ``channel`` and ``ts``): that result's thread, in the conversation the
    result is in. A result the bot sent to the requester's DM (it could not post in the job's
    conversation, bot/slack/poster.py) is answered in that DM's thread, where the bot may post;
    should the DM not be enabled for /imagine, at the top of the job's own conversation."""
    delivered_in, ts = where.get("channel", job.channel_id), where.get("ts", "")
    if delivered_in == job.channel_id:
        # Threads do not nest: a render made from a reply lands in the same thread as the reply.
        return job.channel_id, job.thread_ts or ts
    if ts and not place_refusal(services.guards, job.team_id, delivered_in):
        return delivered_in, ts
    return job.channel_id, ""
