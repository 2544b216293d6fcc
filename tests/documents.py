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


def docx_bytes(title: str, blocks: Sequence[tuple[str, object]]) -> bytes:
    """Return a Word file: ``("h1"|"h2", text)`` headings, ``("p", text)`` paragraphs,
    ``("bullets"|"numbers", [items])`` lists and ``("table", rows)`` tables, with python-docx."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for kind, value in blocks:
        if kind in ("h1", "h2"):
            document.add_heading(str(value), level=int(kind[1]))
        elif kind == "p":
            document.add_paragraph(str(value))
        elif kind in ("bullets", "numbers"):
            style = "List Bullet" if kind == "bullets" else "List Number"
            for item in value:  # type: ignore[attr-defined]
                document.add_paragraph(str(item), style=style)
        elif kind == "table":
            rows: list[list[str]] = value  # type: ignore[assignment]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    table.cell(r, c).text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bomb(name: str = "word/document.xml", megabytes: int = 4) -> bytes:
    """Return a small zip whose one member inflates to ``megabytes`` of zeros (ratio ~1000:1)."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, b"\0" * (megabytes * 2**20))
    return buffer.getvalue()
