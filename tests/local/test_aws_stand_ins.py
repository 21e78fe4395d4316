"""The stand-ins of Rekognition and Translate, through boto3's own clients as the worker builds
them: the JSON 1.1 protocol, Signature Version 4 checked, and each refusing what the service
refuses, with the service's error (bot/local/rekognition.py and bot/local/translate.py cite where
each comes from)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.backends.placeholder import draw
from bot.local.rekognition import ModerationStandIn
from bot.local.translate import TranslateStandIn
from bot.model.prompt import ImageRequest
from tests.fakes.image_ops import noisy_jpeg

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def rekognition() -> Iterator[tuple[ModerationStandIn, Any]]:
    stand_in = ModerationStandIn().start()
    yield stand_in, client("rekognition", stand_in.url)
    stand_in.stop()


@pytest.fixture
def translate() -> Iterator[tuple[TranslateStandIn, Any]]:
    stand_in = TranslateStandIn().start()
    yield stand_in, client("translate", stand_in.url)
    stand_in.stop()


def client(service: str, url: str, secret: str = "testing") -> Any:  # noqa: S107 - moto's test key
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key=secret, region_name="us-east-1"
    )
    return session.client(service, endpoint_url=url, config=ONCE)  # type: ignore[call-overload]


def refused(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    response = error.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def jpeg(side: int) -> bytes:
    return draw(ImageRequest("a paper crane", width=side, height=side, seed=1), 0)


def test_rekognition_answers_a_clean_image_with_no_labels_and_a_flagged_one_with_its_chain(
    rekognition: tuple[ModerationStandIn, Any],
) -> None:
    _, rekognition_client = rekognition
    clean = rekognition_client.detect_moderation_labels(Image={"Bytes": jpeg(256)}, MinConfidence=60)
    assert (clean["ModerationLabels"], clean["ModerationModelVersion"]) == ([], "7.0")
    flagged = draw(ImageRequest("a zombie in the rain", width=256, height=256, seed=1), 0)
    labels = rekognition_client.detect_moderation_labels(Image={"Bytes": flagged})["ModerationLabels"]
    assert [(label["Name"], label["ParentName"], label["TaxonomyLevel"]) for label in labels] == [
        ("Corpses", "Death and Emaciation", 3),
        ("Death and Emaciation", "Visually Disturbing", 2),
        ("Visually Disturbing", "", 1),
    ]
    above = rekognition_client.detect_moderation_labels(Image={"Bytes": flagged}, MinConfidence=99)
    assert above["ModerationLabels"] == []  # 93.1% is under 99


def test_rekognition_refuses_what_rekognition_refuses(rekognition: tuple[ModerationStandIn, Any]) -> None:
    stand_in, rekognition_client = rekognition
    detect = rekognition_client.detect_moderation_labels
    large = noisy_jpeg(1800)
    assert len(large) > 5 * 1024 * 1024
    assert refused(detect, Image={"Bytes": large}) == ("ImageTooLargeException", 400)
    assert refused(detect, Image={"Bytes": b"GIF89a" + b"\0" * 100}) == ("InvalidImageFormatException", 400)
    assert refused(detect, Image={"Bytes": jpeg(64)}) == ("InvalidImageFormatException", 400)  # under 80 px
    in_s3 = {"S3Object": {"Bucket": "photos", "Name": "n.jpg"}}
    assert refused(detect, Image=in_s3)[0] == "InvalidParameterException"  # not modelled: refused
    stand_in.fail("DetectModerationLabels", times=1, code="ThrottlingException", status=500)
    assert refused(detect, Image={"Bytes": jpeg(256)}) == ("ThrottlingException", 500)
    wrong = client("rekognition", stand_in.url, secret="not-the-secret")
    assert (
        refused(wrong.detect_moderation_labels, Image={"Bytes": jpeg(256)})[0] == "InvalidSignatureException"
    )
    assert len(stand_in.checked) == 0  # nothing refused was looked at


def test_translate_detects_and_translates_and_leaves_english_as_it_is(
    translate: tuple[TranslateStandIn, Any],
) -> None:
    _, translate_client = translate
    answer = translate_client.translate_text(
        Text="一只赛博朋克风格的老虎", SourceLanguageCode="auto", TargetLanguageCode="en"
    )
    assert (answer["TranslatedText"], answer["SourceLanguageCode"]) == ("a tiger in cyberpunk style", "zh")
    same = translate_client.translate_text(
        Text="a paper crane", SourceLanguageCode="auto", TargetLanguageCode="en"
    )
    assert (same["TranslatedText"], same["SourceLanguageCode"]) == ("a paper crane", "en")


def test_translate_refuses_what_translate_refuses(translate: tuple[TranslateStandIn, Any]) -> None:
    stand_in, translate_client = translate
    text = translate_client.translate_text
    assert refused(text, Text="猫" * 3400, SourceLanguageCode="auto", TargetLanguageCode="en") == (
        "TextSizeLimitExceededException", 400,
    )  # fmt: skip
    with pytest.raises(ClientError) as low:
        text(Text="🐱 42", SourceLanguageCode="auto", TargetLanguageCode="en")
    assert low.value.response["Error"]["Code"] == "DetectedLanguageLowConfidenceException"
    assert refused(text, Text="猫", SourceLanguageCode="xx", TargetLanguageCode="en")[0] == (
        "UnsupportedLanguagePairException"
    )
    stand_in.fail("TranslateText", times=1, code="TooManyRequestsException", status=429)
    assert refused(text, Text="猫", SourceLanguageCode="auto", TargetLanguageCode="en") == (
        "TooManyRequestsException", 429,
    )  # fmt: skip
