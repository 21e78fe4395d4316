"""``GET /images/{token}/{key}``: a stable link answered with a fresh presigned URL or the bytes.

An image that is not there answers 410 Gone when its job's record says Delete removed it (RFC
9110 §15.5.11: gone on purpose, for good), else 404 (expired, or never made). The record is read
only then: an image that exists costs nothing more.
"""

from __future__ import annotations

from bot.http.events import Response, bytes_response, text_response
from bot.services import Services
from bot.stores.images import job_id_of, split_link_path, token_matches


def serve_image(services: Services, path: str) -> Response:
    parts = split_link_path(path)
    if parts is None or not _opens(services, *parts):
        return text_response(403, "This image link is not valid.")
    key = parts[1]
    settings = services.settings
    if settings.image_link_mode == "bytes":
        data = services.images.read(key)
        if data is None:
            return _missing(services, key)
        return bytes_response(200, data, "image/jpeg", {"Cache-Control": "private, max-age=86400"})
    # One S3 client checks and signs, so the URL names the host the check just reached: the
    # bucket's regional endpoint, or the configured one locally (bot.storage.s3_addressing).
    if not services.images.exists(key):
        return _missing(services, key)
    url = services.images.presign(key, settings.presigned_url_seconds)
    # The presigned URL is short-lived, so the redirect may be cached only briefly.
    max_age = max(0, settings.presigned_url_seconds // 2)
    return text_response(302, "", {"Location": url, "Cache-Control": f"private, max-age={max_age}"})


def _missing(services: Services, key: str) -> Response:
    found = services.store.find(job_id_of(key))
    if found is not None and found[1].deleted_at:
        return text_response(410, "This image was deleted.")
    return text_response(404, "This image no longer exists.")


def _opens(services: Services, token: str, key: str) -> bool:
    """Whether ``token`` was made for ``key`` with the current link key or the one before it.

    A link keeps the key current when it was posted, so after a rotation the links already in
    Slack carry the previous one. A token that neither made may come from a worker that reads a
    newer key than this container: read it again (rate-limited) and check once more.
    """
    for attempt in range(2):
        keys = (services.settings.link_secret, services.previous_link_secret())
        if any(token_matches(secret, token, key) for secret in keys):
            return True
        if attempt or not services.refresh_link_secret():
            return False
    return False
