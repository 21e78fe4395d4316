"""``GET /images/{token}/{key}``: a stable link answered with a fresh presigned URL or the bytes."""

from __future__ import annotations

from bot.http_events import Response, bytes_response, text_response
from bot.services import Services
from bot.storage import key_from_link_path


def serve_image(services: Services, path: str) -> Response:
    settings = services.settings
    key = key_from_link_path(settings.link_secret, path)
    if key is None:
        return text_response(403, "This image link is not valid.")
    if settings.image_link_mode == "bytes":
        data = services.images.read(key)
        if data is None:
            return text_response(404, "This image no longer exists.")
        return bytes_response(200, data, "image/jpeg", {"Cache-Control": "private, max-age=86400"})
    # One S3 client checks and signs, so the URL names the host the check just reached: the
    # bucket's regional endpoint, or the configured one locally (bot.storage.s3_addressing).
    if not services.images.exists(key):
        return text_response(404, "This image no longer exists.")
    url = services.images.presign(key, settings.presigned_url_seconds)
    # The presigned URL is short-lived, so the redirect may be cached only briefly.
    max_age = max(0, settings.presigned_url_seconds // 2)
    return text_response(302, "", {"Location": url, "Cache-Control": f"private, max-age={max_age}"})
