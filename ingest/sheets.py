"""FAQ spreadsheets: a question and an answer column (.csv or .xlsx) become ``faq`` documents.

Support teams keep FAQ lists in a spreadsheet: a row per entry, a question and an answer
column, sometimes a category and a link. The columns are found by their header, in English or
Chinese (``Question``/``问题``, ``Answer``/``答案``, ``Category``/``分类``, ``URL``/``链接``,
``ID``/``编号``), or named with ``--map question=Frage,answer=Antwort``.

A row's document id is its ``ID`` cell when the sheet has one, else a digest of its question,
so importing the same sheet again changes nothing, an edited answer updates its entry, and a
row removed from the sheet is removed from the knowledge base (the file is read whole).
A CSV is read as UTF-8 (with or without a byte-order mark), else in the encoding its bytes
suggest (GBK and Big5 sheets saved by Excel on Chinese Windows). An .xlsx is read with
openpyxl, the well-kept reader of the format, every sheet whose header names the columns.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from ingest.charsets import guess_encoding
from ingest.compression import zip_problem
from ingest.sources import Batch, safe_url
from kb.errors import SourceError
from kb.models import Document, Section
from kb.text import normalize

SUFFIXES = (".csv", ".xlsx")
# Header names of each field, compared folded (lower case, no spaces, no punctuation).
HEADERS: dict[str, tuple[str, ...]] = {
    "question": (
        "question",
        "questions",
        "q",
        "faq",
        "问题",
        "問題",
        "提问",
        "常见问题",
        "标准问题",
    ),
    "answer": ("answer", "answers", "a", "reply", "答案", "回答", "解答", "答复"),
    "category": ("category", "categories", "topic", "section", "分类", "類別", "类别", "分類"),
    "url": ("url", "link", "链接", "連結", "网址"),
    "id": ("id", "faqid", "编号", "編號", "序号"),
}
MAX_UNZIPPED = 512 * 1024 * 1024  # an FAQ workbook's XML, inflated: far more than any needs
MAX_CELL = 20_000  # characters of one answer kept: a sheet is not a place for manuals


def _fold(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def columns(header: list[str], mapping: Mapping[str, str] | None = None) -> dict[str, int]:
    """Return the column of each field ``header`` names; ``mapping`` names them explicitly.

    Raises :class:`SourceError` when ``mapping`` names a column the header lacks.
    """
    folded = [_fold(h) for h in header]
    found: dict[str, int] = {}
    for field, names in HEADERS.items():
        wanted = (mapping or {}).get(field)
        if wanted is not None:
            if _fold(wanted) not in folded:
                raise SourceError(
                    f"no column {wanted!r} for {field} (columns: {', '.join(header)})"
                )
            found[field] = folded.index(_fold(wanted))
            continue
        for name in names:
            if _fold(name) in folded:
                found[field] = folded.index(_fold(name))
                break
    return found


def is_faq_sheet(path: Path, mapping: Mapping[str, str] | None = None) -> bool:
    """Whether ``path`` is a .csv or .xlsx whose header names a question and an answer column."""
    if path.suffix.lower() == ".xlsx":
        return True  # spreadsheets are FAQ sheets; ticket exports come as .csv or .json
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            head = f.read(65536)
        cut = head.rfind(b"\n")  # whole lines only: a cut inside a character is not UTF-8
        header = next(csv.reader(io.StringIO(_decode(head[:cut] if cut > 0 else head))), [])
    except (csv.Error, OSError):
        return False
    named = {k: v for k, v in (mapping or {}).items() if k in HEADERS}
    try:
        found = columns(header, named)
    except SourceError:
        return False
    if "question" in named:  # --map question=…: the user says it is an FAQ sheet
        return "answer" in found
    # A ticket export may call its columns question and answer too; it has a status.
    return "question" in found and "answer" in found and "status" not in map(_fold, header)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode(guess_encoding(data), errors="replace")


def _rows(path: Path) -> Iterator[tuple[str, list[list[str]]]]:
    """Yield (sheet name, rows as text cells) of a .csv or every sheet of an .xlsx."""
    if path.suffix.lower() == ".csv":
        try:
            text = _decode(path.read_bytes())
            yield path.name, [row for row in csv.reader(io.StringIO(text, newline=""))]
        except csv.Error as e:
            raise SourceError(f"{path.name}: not valid CSV ({e})") from None
        return
    import openpyxl  # only for .xlsx files

    data = path.read_bytes()
    problem = zip_problem(data, limit=MAX_UNZIPPED)
    if problem:
        raise SourceError(f"{path.name} is not a readable .xlsx workbook: {problem}")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheets = [(sheet.title, [["" if v is None else str(v) for v in row]
                                 for row in sheet.iter_rows(values_only=True)])
                  for sheet in book.worksheets]  # fmt: skip
        book.close()
    except Exception as e:  # openpyxl raises many kinds on a damaged workbook; none may escape
        reason = str(e).split("\n", 1)[0][:120] or type(e).__name__
        raise SourceError(f"{path.name} is not a readable .xlsx workbook ({reason})") from None
    for title, rows in sheets:
        yield f"{path.name} › {title}", rows


def read_faq_sheet(path: Path, mapping: Mapping[str, str] | None = None) -> Batch:
    """Read the FAQ entries of a .csv or .xlsx sheet; rows without both cells are skipped."""
    batch = Batch(source=str(path.resolve()))
    seen: set[str] = set()
    for name, rows in _rows(path):
        header = [c.strip() for c in rows[0]] if rows else []
        fields = columns(header, {k: v for k, v in (mapping or {}).items() if k in HEADERS})
        if "question" not in fields or "answer" not in fields:
            batch.skipped.append((name, "no question and answer columns in its first row"))
            continue
        for number, row in enumerate(rows[1:], start=2):
            cells = {f: row[at].strip() if at < len(row) else "" for f, at in fields.items()}
            question, answer = (
                normalize(cells.get("question", "")),
                cells.get("answer", "")[:MAX_CELL],
            )
            if not question or not answer.strip():
                if question or answer.strip():
                    batch.skipped.append((f"{name} row {number}", "a question without an "
                                          "answer, or an answer without a question"))  # fmt: skip
                continue
            raw_id = cells.get("id", "") or hashlib.sha1(question.lower().encode()).hexdigest()[:12]
            doc_id = f"faq/{raw_id}"
            if doc_id in seen:
                batch.skipped.append((f"{name} row {number}", "the same question again"))
                continue
            seen.add(doc_id)
            meta = {"category": cells.get("category", "")} if cells.get("category", "") else {}
            body = "\n".join(normalize(p) for p in answer.splitlines() if p.strip())
            batch.documents.append(
                Document(
                    id=doc_id,
                    title=question,
                    sections=(Section(heading=question, text=body, anchor=None, level=1),),
                    source=batch.source,
                    url=safe_url(cells.get("url", "")) if cells.get("url", "") else None,
                    kind="faq",
                    meta=meta,
                )  # fmt: skip
            )
    if not batch.documents:
        raise SourceError(f"no FAQ entries in {path.name}: expected a question and an answer"
                          " column (Question/问题, Answer/答案) or --map")  # fmt: skip
    return batch
