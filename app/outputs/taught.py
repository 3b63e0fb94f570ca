"""The region's picture of a taught classifier, for the outputs that send one (an event's
snapshot, the MQTT image entity): the classified frame's preview JPEG, cut to the region and
made thumbnail-size like the classifier's examples.

The preview keeps only the last few classified pictures: a result older than those is shown
with the newest, which the camera took moments later. A state change reaches the event
recorder and MQTT at once, each asking for the same picture: the last one made is kept, so the
preview's JPEG is decoded once for both.
"""
from __future__ import annotations

import math
import threading

from app.cameras.preview import Preview
from app.images import ImageError, decode
from app.teach.store import THUMB_SIDE, Region, thumbnail

_lock = threading.Lock()  # held while a picture is made: the other output waits, then reuses it
# the last picture made: (the preview's JPEG object it was cut from, the region, the picture)
_last: tuple[bytes, Region, bytes | None] | None = None


def region_picture(preview: Preview, frame: int, region: Region) -> bytes | None:
    """The JPEG of `region` of classified frame `frame` (longer side THUMB_SIDE); None while the
    preview has no picture. Blocking (decodes and encodes): call it on an output's thread."""
    global _last
    got = preview.classified_jpeg(frame) or preview.classified_jpeg()
    if got is None:
        return None
    jpeg = got[1]
    with _lock:
        # the preview hands out one bytes object per picture: the same object is the same picture
        if _last is not None and _last[0] is jpeg and _last[1] == region:
            return _last[2]
        # decoded just large enough that the region still fills a thumbnail
        target = math.ceil(THUMB_SIDE / max(min(region[2], region[3]), 1e-3))
        try:
            rgb = decode(jpeg, target=target)
        except ImageError:  # a camera's broken JPEG: no picture this time
            picture = None
        else:
            picture = thumbnail(rgb, region)
        _last = (jpeg, region, picture)
        return picture
