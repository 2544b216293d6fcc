"""Real PDF files drawn by the tests themselves with reportlab (no binary fixtures in the repo).

A page is a list of items drawn top to bottom: a string is a line of text, a list of rows is a
table with grid lines. Outline entries are ``(title, level, page index)``; a ``cjk`` PDF draws
with Adobe's STSong-Light CID font, which every PDF reader knows without an embedded file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Table, TableStyle

Item = str | list[list[str]]


def pdf_bytes(
    pages: Sequence[Sequence[Item]],
    *,
    outline: Sequence[tuple[str, int, int]] = (),
    title: str = "",
    user_password: str | None = None,
    owner_password: str | None = None,
    cjk: bool = False,
    header: str | None = None,
) -> bytes:
    """Return a PDF of ``pages``; ``header`` is drawn atop each page with its number."""
    font = "Helvetica"
    if cjk:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        font = "STSong-Light"
    encrypt = None
    if user_password is not None or owner_password is not None:
        encrypt = StandardEncryption(user_password or "", owner_password or "owner", canPrint=0)
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt, invariant=1)
    if title:
        c.setTitle(title)
    width, height = A4
    for number, items in enumerate(pages):
        for key, (_, _, page) in enumerate(outline):
            if page == number:
                c.bookmarkPage(f"o{key}")
        y = height - 60
        if header:
            c.setFont(font, 8)
            c.drawString(60, y + 25, f"{header} {number + 1} / {len(pages)}")
        for item in items:
            if isinstance(item, str):
                c.setFont(font, 11)
                c.drawString(60, y, item)
                y -= 16
            else:
                table = Table(item)
                table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                                           ("FONT", (0, 0), (-1, -1), font, 10)]))  # fmt: skip
                _, h = table.wrapOn(c, width - 120, y)
                table.drawOn(c, 60, y - h)
                y -= h + 16
        c.showPage()
    for key, (text, level, _) in enumerate(outline):
        c.addOutlineEntry(text, f"o{key}", level=level - 1)
    c.save()
    return buffer.getvalue()


def scanned_pdf_bytes(pages: int = 2) -> bytes:
    """Return a PDF whose pages hold only drawings, as a scan holds only pictures."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for _ in range(pages):
        c.rect(60, 400, 300, 200, fill=1)
        c.showPage()
    c.save()
    return buffer.getvalue()
