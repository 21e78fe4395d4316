"""The callback ids of the bot's modals, which Slack echoes back in a view_submission: the
listeners register on them at every cold start, so they live apart from the forms' blocks."""

MODAL_CALLBACK = "imagine_modal"  # the /imagine form (bot/blocks/form.py)
SHARE_CALLBACK = "imagine_share_modal"  # the Share modal's conversation picker
CHANGE_CALLBACK = "imagine_change_modal"  # Change… on an image: what to change, and into what
WORKSPACE_SETTINGS_CALLBACK = "imagine_workspace_settings_modal"  # an admin's settings for their workspace
