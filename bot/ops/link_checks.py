"""Doctor's image link check: a link minted now opens through the stack's ImagesBaseUrl."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from bot.ops.checks import FAIL, PASS, Context, Result, read_secret, why
from bot.stores.images import image_link, job_id_of

# A key no image is stored under (the shape of bot.storage.image_key), for a link check on a
# bucket that holds no image yet: the route must accept its token and answer 404.
NO_IMAGE_KEY = "images/DOCTOR/2000/01/01/" + "0" * 32 + "/0.jpg"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 302 itself is what is checked


def image_links(ctx: Context) -> Result:
    """A link minted now, with the functions' link key and the project's own code
    (bot.storage.image_link), opens through ImagesBaseUrl: for an image the bucket holds, a
    redirect to a presigned URL that answers a JPEG (or the JPEG itself); with none stored yet,
    the route accepts the token (404, where a wrong key answers 403)."""
    name = "Image links"
    d = ctx.deployment
    base = d.images_base_url
    if not base:
        return Result(name, FAIL, "no ImagesBaseUrl", "Give --stack NAME or set PUBLIC_BASE_URL.")
    link_key = _link_key(ctx)
    if isinstance(link_key, Result):
        return link_key
    key = NO_IMAGE_KEY
    bucket = d.setting("IMAGES_BUCKET")
    if bucket:
        try:
            listed = ctx.client("s3").list_objects_v2(Bucket=bucket, Prefix="images/", MaxKeys=50)
            key = next((o["Key"] for o in listed.get("Contents", []) if job_id_of(o["Key"])), NO_IMAGE_KEY)
        except Exception:  # noqa: S110 - the check goes on with a key no image is under
            pass
    link = image_link(base, link_key, key)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(link, timeout=10) as answer:
            status, kind, location = answer.status, answer.headers.get("Content-Type", ""), ""
    except urllib.error.HTTPError as error:
        status, kind, location = (
            error.code,
            error.headers.get("Content-Type", ""),
            error.headers.get("Location", ""),
        )
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Result(
            name,
            FAIL,
            f"{base}/images/ does not answer ({getattr(reason, 'strerror', None) or reason})",
            "Check the stack's ImagesBaseUrl output and that its API is deployed.",
        )
    if status == 403:
        return Result(
            name,
            FAIL,
            "a link minted now is refused (HTTP 403)",
            "The functions behind ImagesBaseUrl use another link key than LINK_SECRET_ID: "
            "check you named the right stack, and redeploy it.",
        )
    if key == NO_IMAGE_KEY:
        if status == 404:
            return Result(name, PASS, "a link minted now is accepted (no image stored yet to open)")
        return Result(
            name,
            FAIL,
            f"a link to no image answered HTTP {status}, not 404",
            "Check that ImagesBaseUrl is this stack's API.",
        )
    if status == 302 and location:
        try:
            with urllib.request.urlopen(location, timeout=10) as image:  # noqa: S310 - the presigned S3 URL
                kind = image.headers.get("Content-Type", "")
                status = image.status
        except (urllib.error.URLError, OSError) as error:
            return Result(
                name,
                FAIL,
                f"the redirect's presigned URL failed ({why(error)})",
                "Check the http function's s3:GetObject grant on images/*.",
            )
    if status == 200 and kind.startswith("image/"):
        return Result(name, PASS, f"a link minted now opens a stored image ({kind})")
    return Result(
        name,
        FAIL,
        f"a link to a stored image answered HTTP {status}",
        "Check that ImagesBaseUrl belongs to this stack and that its images are in IMAGES_BUCKET.",
    )


def _link_key(ctx: Context) -> str | Result:
    d = ctx.deployment
    secret_id = d.setting("LINK_SECRET_ID")
    if not secret_id:
        return d.setting("LINK_SECRET") or Result(
            "Image links",
            FAIL,
            "no LINK_SECRET_ID or LINK_SECRET",
            "Give --stack NAME or set LINK_SECRET_ID.",
        )
    value = read_secret(ctx, "Image links", secret_id, "LINK_SECRET_ID")
    if isinstance(value, Result):
        return value
    return value.strip() or Result("Image links", FAIL, "the link secret is empty", "Redeploy the stack.")
