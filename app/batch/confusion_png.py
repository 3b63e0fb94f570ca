"""The confusion matrix as a PNG drawn with Pillow: rows are true classes, columns predicted,
each cell shaded by its share of the row (so small classes read as clearly as big ones)."""
from __future__ import annotations

import os

from PIL import Image, ImageDraw, ImageFont

_FONT_FILE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_RIGHT, _WRONG = (30, 130, 60), (190, 40, 40)  # a whole row's colour on / off the diagonal
FOOTER = "rows: true class, columns: predicted"


def _font(size: int):
    try:
        return ImageFont.truetype(_FONT_FILE, size)
    except OSError:
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def draw_confusion(labels: list[str], counts: list[list[int]], title: str,
                   path: str | os.PathLike[str]) -> None:
    n = len(labels)
    cell = max(8, min(48, 720 // max(1, n)))
    font, small = _font(max(9, min(14, cell - 2))), _font(max(8, min(12, cell // 3)))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin = 10 + max((_text_size(measure, label, font)[0] for label in labels), default=0)
    top = 40 + margin
    # as wide as the widest of the matrix, the title and the footer, so none is cut off
    width = max(margin + n * cell + 20, 10 + _text_size(measure, title, font)[0] + 10,
                margin + _text_size(measure, FOOTER, small)[0] + 10)
    image = Image.new("RGB", (width, top + n * cell + 40), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 10), title, fill="black", font=font)
    for i, label in enumerate(labels):
        width, height = _text_size(draw, label, font)
        draw.text((margin - 6 - width, top + i * cell + (cell - height) // 2), label,
                  fill="black", font=font)
        column = Image.new("RGBA", (width + 4, height + 6), (255, 255, 255, 0))
        ImageDraw.Draw(column).text((2, 0), label, fill="black", font=font)
        column = column.rotate(90, expand=True)
        image.paste(column, (margin + i * cell + (cell - column.width) // 2,
                             top - 6 - column.height), column)
    for t, row in enumerate(counts):
        total = sum(row)
        for p, count in enumerate(row):
            share = count / total if total else 0.0
            full = _RIGHT if t == p else _WRONG
            box = (margin + p * cell, top + t * cell, margin + (p + 1) * cell - 1,
                   top + (t + 1) * cell - 1)
            draw.rectangle(box, fill=tuple(round(255 + share * (c - 255)) for c in full),
                           outline=(200, 200, 200))
            if count and cell >= 20:
                text = str(count)
                width, height = _text_size(draw, text, small)
                draw.text((box[0] + (cell - width) // 2, box[1] + (cell - height) // 2), text,
                          fill="white" if share > 0.6 else "black", font=small)
    draw.text((margin, top + n * cell + 10), FOOTER, fill="black", font=small)
    image.save(path, format="PNG")
