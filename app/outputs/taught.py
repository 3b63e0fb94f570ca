"""The region's picture of a taught classifier, for the outputs that send one (an event's
snapshot, the MQTT image entity): the classified frame's preview JPEG, cut to the region and
made thumbnail-size like the classifier's examples.

The preview keeps only the last few classified pictures: a result older than those is shown
with the newest, which the camera took moments later.
"""
from __future__ import annotations

import math

from app.cameras.preview import Preview
from app.images import ImageError, decode
from app.teach.store import THUMB_SIDE, Region, thumbnail


def region_picture(preview: Preview, frame: int, region: Region) -> bytes | None:
    """The JPEG of `region` of classified frame `frame` (longer side THUMB_SIDE); None while the
    preview has no picture. Blocking (decodes and encodes): call it on an output's thread."""
    got = preview.classified_jpeg(frame) or preview.classified_jpeg()
    if got is None:
        return None
    # decoded just large enough that the region still fills a thumbnail
    target = math.ceil(THUMB_SIDE / max(min(region[2], region[3]), 1e-3))
    try:
        rgb = decode(got[1], target=target)
    except ImageError:  # a camera's broken JPEG: no picture this time
        return None
    return thumbnail(rgb, region)
