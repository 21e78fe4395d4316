"""Each workspace's installation of the app, and the OAuth flow's one-use states, in the jobs
table (DynamoDB), behind slack_sdk's own interfaces so that Bolt's OAuth flow and token rotation
read and write them as they do any store of theirs.

DynamoDB rather than slack_sdk's S3 stores: the acknowledgement reads the installation on every
request, and one GetItem on the table the acknowledgement already uses is one request to a
service already warm in the function (bench/ measures it beside the single-workspace mode); the
S3 store also lists objects to delete them, which needs s3:ListBucket, a grant the functions
do not have outside PURGE_ON_UNINSTALL's prefix. Items, by ``pk`` (the table's only key):

- ``install#{client}#{enterprise}#{team}#bot``: the bot token and what the acknowledgement needs
  without asking Slack (bot user id, bot id, scopes), refresh token and expiry when rotating, and
  in an attribute of its own the admins' settings, so that a rotation or a reinstall (which
  writes the bot) and a change of settings never undo each other;
- ``...#latest``: the newest installation, with ``installers``, the users who installed it;
- ``...#user#{user}``: each installer's own installation;
- ``oauth-state#{state}``: a state the install page issued, deleted when the redirect uses it,
  with ``expires_at`` (the table's TTL) for the ones never used.

An org-wide install is kept under its enterprise with no team, as slack_sdk's stores keep it.
"""

from __future__ import annotations

import json
import secrets
import time
from logging import Logger, getLogger
from typing import TYPE_CHECKING, Any

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.model.workspace_settings import STORED_AS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NONE = "none"  # an id a workspace or an org-wide install does not have
STATE_SECONDS = 600  # how long an install page's state may wait for its redirect
_LOGGER = getLogger("imagine.installations")


class _InTheTable:
    """A store of slack_sdk's kind kept in the jobs table, logging as slack_sdk's stores ask."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    @property
    def logger(self) -> Logger:
        return _LOGGER


class DynamoInstallationStore(_InTheTable, InstallationStore):
    def __init__(self, client: DynamoDBClient, table: str, client_id: str) -> None:
        super().__init__(client, table)
        self.client_id = client_id

    def _pk(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None,
            what: str) -> str:  # fmt: skip
        team = NONE if is_enterprise_install else team_id or NONE
        return f"install#{self.client_id}#{enterprise_id or NONE}#{team}#{what}"

    def save(self, installation: Installation) -> None:
        self.save_bot(installation.to_bot())
        ids = (installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        data = json.dumps(installation.__dict__)
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": self._pk(*ids, "latest")}},
            UpdateExpression="SET #data = :data ADD installers :user",
            ExpressionAttributeNames={"#data": "data"},
            ExpressionAttributeValues={":data": {"S": data}, ":user": {"SS": [installation.user_id]}},
        )
        self._put(self._pk(*ids, f"user#{installation.user_id}"), data)

    def save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            return
        kept = {k: v for k, v in bot.__dict__.items() if k != "custom_values"}  # the settings live apart
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": self._pk(bot.enterprise_id, bot.team_id, bot.is_enterprise_install, "bot")}},
            UpdateExpression="SET #data = :data",
            ExpressionAttributeNames={"#data": "data"},
            ExpressionAttributeValues={":data": {"S": json.dumps(kept)}},
        )

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        item = self._item(self._pk(enterprise_id, team_id, is_enterprise_install, "bot"))
        if item is None:
            return None
        bot = Bot(**json.loads(item["data"]["S"]))
        if STORED_AS in item:
            bot.custom_values[STORED_AS] = json.loads(item[STORED_AS]["S"])
        return bot

    def save_settings(
        self, enterprise_id: str | None, team_id: str | None, org_wide: bool, settings: dict[str, Any]
    ) -> bool:
        """Keep a workspace's own settings with its bot, read with it on every request; False when
        it is not installed."""
        from botocore.exceptions import ClientError

        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": self._pk(enterprise_id, team_id, org_wide, "bot")}},
                UpdateExpression="SET #settings = :settings",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#settings": STORED_AS},
                ExpressionAttributeValues={":settings": {"S": json.dumps(settings)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        what = f"user#{user_id}" if user_id else "latest"
        data = self._get(self._pk(enterprise_id, team_id, is_enterprise_install, what))
        if data is None:
            return None
        installation = Installation(**data)
        # An installer's own record may hold a bot token rotated since: the bot's is the current one.
        bot = self.find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        if bot is not None and bot.bot_token != installation.bot_token:
            installation.bot_id, installation.bot_user_id = bot.bot_id, bot.bot_user_id
            installation.bot_token, installation.bot_scopes = bot.bot_token, bot.bot_scopes
            installation.bot_refresh_token = bot.bot_refresh_token
            installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._delete(self._pk(enterprise_id, team_id, False, "bot"))

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id:
            self._delete(self._pk(enterprise_id, team_id, False, f"user#{user_id}"))
            return
        latest = self._pk(enterprise_id, team_id, False, "latest")
        found = self.client.get_item(TableName=self.table, Key={"pk": {"S": latest}}, ConsistentRead=True)
        for installer in found.get("Item", {}).get("installers", {}).get("SS", []):
            self._delete(self._pk(enterprise_id, team_id, False, f"user#{installer}"))
        self._delete(latest)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    def _put(self, pk: str, data: str) -> None:
        self.client.put_item(TableName=self.table, Item={"pk": {"S": pk}, "data": {"S": data}})

    def _get(self, pk: str) -> dict[str, Any] | None:
        item = self._item(pk)
        data: dict[str, Any] | None = json.loads(item["data"]["S"]) if item else None
        return data

    def _item(self, pk: str) -> dict[str, Any] | None:
        # Consistent: a token rotated or a workspace reinstalled a moment ago is the one used.
        found = self.client.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _delete(self, pk: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": pk}})


class DynamoOAuthStateStore(_InTheTable, OAuthStateStore):
    """The install page's states: each issued once, good for one redirect within STATE_SECONDS."""

    def __init__(self, client: DynamoDBClient, table: str, expiration_seconds: int = STATE_SECONDS) -> None:
        super().__init__(client, table)
        self.expiration_seconds = expiration_seconds

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        expires_at = int(time.time()) + self.expiration_seconds
        self.client.put_item(TableName=self.table, Item={"pk": {"S": f"oauth-state#{state}"},
                                                         "expires_at": {"N": str(expires_at)}})  # fmt: skip
        return state

    def consume(self, state: str) -> bool:
        """True once for a state this store issued that has not expired; its item goes either way."""
        if not state or len(state) > 100:
            return False
        gone = self.client.delete_item(
            TableName=self.table, Key={"pk": {"S": f"oauth-state#{state}"}}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        return gone is not None and int(gone["expires_at"]["N"]) >= time.time()
