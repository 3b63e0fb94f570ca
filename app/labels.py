"""Human-readable class names: the page shows these; the API keeps the model's raw labels too."""
from __future__ import annotations

import re

# ImageNet-style labels may start with a WordNet id ("n02085620-Chihuahua").
_WORDNET_ID = re.compile(r"^n\d{8}[-_ ]")


def display_label(raw: str) -> str:
    """`Staffordshire_bullterrier` -> `Staffordshire bullterrier`, `star` -> `Star`."""
    text = _WORDNET_ID.sub("", raw).replace("_", " ").strip()
    text = re.sub(r"\s+", " ", text) or raw
    return text[0].upper() + text[1:]
