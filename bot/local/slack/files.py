"""Slack's external file upload, in three steps (what slack_sdk's ``files_upload_v2`` calls):

1. ``files.getUploadURLExternal`` with ``filename`` and ``length`` answers an ``upload_url`` and
   a ``file_id`` (docs.slack.dev/reference/methods/files.getUploadURLExternal);
2. the bytes are POSTed to ``upload_url``; Slack answers ``200`` and "OK - <length>";
3. ``files.completeUploadExternal`` with ``files`` (a JSON list of ``{"id", "title"}``) and
   ``channel_id`` (and ``thread_ts``, ``initial_comment``) shares them; it can be called only
   once for a file, and without ``channel_id`` the file stays private
   (docs.slack.dev/reference/methods/files.completeUploadExternal). A ``channel_id`` that is not
   a conversation id is refused with "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$
   [json-pointer:/channel_id]" (slackapi/bolt-js issue 2115: a user id there is refused).

``files.delete`` with ``file`` deletes a shared file and answers ``{"ok": true}``; an id that
names no file is ``file_not_found`` ("The file does not exist, or is not visible to the calling
user") and a file deleted already ``file_deleted`` ("The file has already been deleted"), as
docs.slack.dev/reference/methods/files.delete lists them. Every file here is the bot's own, so
``cant_delete_file`` (another member's file) does not arise.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

# Slack's pattern is ^[CGDZ][A-Z0-9]{8,}$; local ids such as C0LOCAL are shorter than any real
# one, so only the kind of id is checked: a user id (U...) is refused as Slack refuses it.
CONVERSATION_ID = re.compile(r"^[CGDZ][A-Z0-9]+$")
CHANNEL_ID_PATTERN = "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]"


@dataclass
class SharedFile:
    """A file that files.completeUploadExternal shared, and where."""

    file_id: str
    filename: str
    title: str
    data: bytes
    channel_id: str | None  # None: completed without a channel, so private to the uploader
    thread_ts: str | None
    initial_comment: str | None


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    token: str  # the upload URL's unguessable part
    data: bytes | None = None
    completed: bool = False
    deleted: bool = False


@dataclass
class Uploads:
    uploads: dict[str, Upload] = field(default_factory=dict)  # by file id
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, args: dict[str, Any]) -> tuple[dict[str, Any], Upload | None]:
        """files.getUploadURLExternal: Slack's answer, and the upload it opened."""
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length.isdigit() or int(length) <= 0:
            missing = "filename" if not filename else "length"
            return _invalid_arguments(f"missing or invalid required field: {missing}"), None
        upload = Upload(
            f"F{secrets.token_hex(5).upper()}", str(filename), int(length), secrets.token_urlsafe(16)
        )
        with self._lock:
            self.uploads[upload.file_id] = upload
        return {"ok": True, "file_id": upload.file_id}, upload

    def receive(self, token: str, data: bytes) -> tuple[int, str]:
        """The POST of the bytes to the upload URL: the HTTP status and body."""
        with self._lock:
            upload = next((u for u in self.uploads.values() if u.token == token), None)
            if upload is None or upload.completed:
                return 404, "Not Found"
            if len(data) != upload.length:
                # The length declared in step 1 is what Slack expects to receive.
                return 400, f"length mismatch: expected {upload.length} bytes, received {len(data)}"
            upload.data = data
        return 200, f"OK - {len(data)}"

    def complete(self, args: dict[str, Any]) -> tuple[dict[str, Any], list[SharedFile]]:
        """files.completeUploadExternal, once the channel is known to be open to the bot."""
        try:
            listed = json.loads(args["files"]) if isinstance(args.get("files"), str) else args.get("files")
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) for f in listed):
            return _invalid_arguments("missing or invalid required field: files"), []
        channel = args.get("channel_id") or None
        if channel is not None and not CONVERSATION_ID.match(str(channel)):
            return _invalid_arguments(CHANNEL_ID_PATTERN), []
        with self._lock:
            uploads = [self.uploads.get(str(f.get("id"))) for f in listed]
            if any(u is None or u.data is None or u.completed for u in uploads):
                return {"ok": False, "error": "file_not_found"}, []  # unknown, not uploaded, or done
            shared = []
            for item, upload in zip(listed, uploads, strict=True):
                assert upload is not None and upload.data is not None
                upload.completed = True
                shared.append(
                    SharedFile(
                        upload.file_id,
                        upload.filename,
                        str(item.get("title") or upload.filename),
                        upload.data,
                        channel,
                        args.get("thread_ts") or None,
                        args.get("initial_comment") or None,
                    )
                )
        answer = {"ok": True, "files": [{"id": s.file_id, "title": s.title} for s in shared]}
        return answer, shared

    def delete(self, file_id: str) -> dict[str, Any]:
        """files.delete: Slack's answer; the file is gone once it says ok."""
        with self._lock:
            upload = self.uploads.get(file_id)
            if upload is None or not upload.completed:  # never shared: no file to anyone
                return {"ok": False, "error": "file_not_found"}
            if upload.deleted:
                return {"ok": False, "error": "file_deleted"}
            upload.deleted = True
        return {"ok": True}


def _invalid_arguments(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {message}"]},
    }
