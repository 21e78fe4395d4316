"""What the image check flags (pure): Amazon Rekognition's moderation labels against the labels a
stack blocks.

DetectModerationLabels answers each detection as a chain, the specific label with its parents,
each with the same confidence: ``{"Name": "Blood & Gore", "ParentName": "Graphic Violence",
"TaxonomyLevel": 3}``, ``{"Name": "Graphic Violence", "ParentName": "Violence", ...}``,
``{"Name": "Violence", "ParentName": "", "TaxonomyLevel": 1}`` (the v7 example in "Detecting
inappropriate images", docs.aws.amazon.com/rekognition/latest/dg/procedure-moderate-images.html).
So a blocked top-level or second-level name is found by the label's own name, and its
more specific labels by their parents. The taxonomy's
top-level and second-level names, as "Moderating content" lists them for model version 7
(docs.aws.amazon.com/rekognition/latest/dg/moderation-api.html), are the only names a setting may
block: a misspelt one would block nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TAXONOMY: dict[str, tuple[str, ...]] = {  # top-level -> its second-level labels (v7)
    "Explicit": ("Explicit Nudity", "Explicit Sexual Activity", "Sex Toys"),
    "Non-Explicit Nudity of Intimate parts and Kissing": (
        "Non-Explicit Nudity", "Obstructed Intimate Parts", "Kissing on the Lips",
    ),
    "Swimwear or Underwear": ("Female Swimwear or Underwear", "Male Swimwear or Underwear"),
    "Violence": ("Weapons", "Graphic Violence"),
    "Visually Disturbing": ("Death and Emaciation", "Crashes"),
    "Drugs & Tobacco": ("Products", "Drugs & Tobacco Paraphernalia & Use"),
    "Alcohol": ("Alcohol Use", "Alcoholic Beverages"),
    "Rude Gestures": ("Middle Finger",),
    "Gambling": (),
    "Hate Symbols": ("Nazi Party", "White Supremacy", "Extremist"),
}  # fmt: skip
KNOWN = {name.lower(): name for top, seconds in TAXONOMY.items() for name in (top, *seconds)}
DEFAULT_BLOCKED_LABELS = (
    "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing",
    "Violence",
    "Visually Disturbing",
    "Hate Symbols",
)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # an image sent as bytes (Rekognition's "Guidelines and quotas")


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": round(self.confidence, 1)}


def label_names(text: str) -> tuple[str, ...]:
    """Comma-separated label names, spelt as the taxonomy spells them; ValueError names any
    that it does not have."""
    asked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in asked if name.lower() not in KNOWN]
    if unknown:
        raise ValueError(", ".join(unknown))
    return tuple(KNOWN[name.lower()] for name in asked)


def blocked(answer: dict[str, Any], blocked_names: tuple[str, ...], min_confidence: float) -> list[Label]:
    """The labels of a DetectModerationLabels answer that flag the image: each detection whose
    label or any parent is blocked, reported down to its most specific label (what the requester
    is told), most specific and most confident first."""
    wanted = {name.lower() for name in blocked_names}
    labels = [label for label in answer.get("ModerationLabels") or [] if isinstance(label, dict)]
    parent = {str(label.get("Name", "")): str(label.get("ParentName") or "") for label in labels}

    def under_blocked(name: str) -> bool:
        seen: set[str] = set()
        while name and name not in seen:
            if name.lower() in wanted:
                return True
            seen.add(name)
            name = parent.get(name, "")
        return False

    found = {
        str(label.get("Name", "")): (
            float(label.get("Confidence", 0.0)),
            int(label.get("TaxonomyLevel") or 0),
        )
        for label in labels
        if float(label.get("Confidence", 0.0)) >= min_confidence and under_blocked(str(label.get("Name", "")))
    }
    ordered = sorted(found.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    return [Label(name, confidence) for name, (confidence, _) in ordered]
