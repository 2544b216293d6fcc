"""Which elements of a page a visitor cannot see, pure: markup in, a yes or no out.

Text a sighted visitor never sees must not become the help centre's answer: a page (or a
crawled third-party page) can plant instructions in it. An element is hidden when its
``hidden`` attribute, its inline ``style`` or a screen-reader-only class of the common CSS
frameworks hides it (see :func:`is_hidden`). ``aria-hidden="true"`` does not: it hides an
element from screen readers only, and sighted visitors read it (a price shown as "$29" beside
a screen-reader-only "29 dollars").
"""

from __future__ import annotations

import re

from bs4 import Tag

# Bootstrap (sr-only, visually-hidden), WordPress (screen-reader-text), HTML5 Boilerplate
# (visuallyhidden), Drupal (element-invisible). A bare "hidden" class is not among them: Tailwind's
# "hidden md:block" shows the element on wide screens, and FAQ accordions reveal "hidden" answers
# on a click.
SCREEN_READER_CLASSES = {
    "sr-only", "visually-hidden", "visuallyhidden", "screen-reader-text", "element-invisible",
    "a11y-hidden", "assistive-text", "u-hidden-visually",
}  # fmt: skip
_KEYWORDS = {None, "", "inherit", "initial", "unset", "revert", "currentcolor"}
OFF_SCREEN_PX = 500.0  # an offset this far left or up puts an element outside any viewport
_LENGTH = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([a-z%]*)$")
_PX_PER = {"": 1.0, "px": 1.0, "em": 16.0, "rem": 16.0, "pt": 4 / 3, "pc": 16.0, "ch": 8.0,
           "ex": 8.0, "cm": 37.8, "mm": 3.78, "in": 96.0, "q": 0.945, "vw": 10.0, "vh": 10.0,
           "vmin": 10.0, "vmax": 10.0, "%": 5.0}  # fmt: skip


def is_hidden(tag: Tag) -> bool:
    """Return whether a visitor cannot see ``tag`` or anything in it: hidden, styled or classed so.

    ``hidden="until-found"`` is collapsed content a visitor opens (or finds), so it is shown.
    A ``font-size:0`` container whose children set a size of their own (the inline-block
    whitespace trick) is not hidden: its children are seen (see :func:`hides_own_text`).
    """
    if tag.attrs is None:
        return False
    hidden = tag.get("hidden")
    if hidden is not None and str(hidden).strip().lower() != "until-found":
        return True
    classes = tag.get_attribute_list("class")
    if any(str(c or "").lower() in SCREEN_READER_CLASSES for c in classes):
        return True
    style = tag.get("style")
    return bool(style) and style_hides(str(style)) and not hides_own_text(tag)


def hides_own_text(tag: Tag) -> bool:
    """Return whether ``tag`` hides only its own text: a zero font size a descendant undoes.

    ``<ul style="font-size:0"><li style="font-size:16px">…`` shows the items; only text
    directly in the ``<ul>`` is unseen.
    """
    css = _declarations(str(tag.get("style") or ""))
    if not _tiny_font(css) or style_hides(str(tag.get("style")), font=False):
        return False
    return any(
        not _tiny_font(_declarations(str(d.get("style"))))
        for d in tag.find_all(style=re.compile(r"font", re.I))
        if d.attrs is not None
    )


def style_hides(style: str, *, font: bool = True) -> bool:
    """Return whether the inline CSS declarations ``style`` keep their text from being seen.

    Hiding: ``display:none``, ``visibility:hidden|collapse``, ``content-visibility:hidden``,
    ``opacity`` (or ``filter:opacity()``) at most 0.05, a ``font-size`` (or ``font``) under
    2px, a ``color`` that is transparent or the background's, a ``transform`` to scale 0 or
    500px away, a zero-area ``clip`` or ``clip-path``, a height or width under 2px with
    ``overflow:hidden|clip``, and a ``text-indent``, a margin or a positioned ``left``/``top``/
    ``right`` offset at least 500px out of view. Case, spaces, ``!important`` and unit
    spellings (``0``, ``0px``, ``0.0em``, ``0%``, ``calc(0px)``) and colour notations
    (``rgb(0 0 0 / 0)``, ``#0000``) do not matter; of a property given twice the last (or the
    ``!important``) one wins, as in CSS. ``font=False`` leaves the font size out.
    """
    css = _declarations(style)
    get = css.get
    if get("display") == "none" or get("visibility") in ("hidden", "collapse"):
        return True
    if get("content-visibility") == "hidden":
        return True
    opacity = _number(get("opacity"))
    faded = re.search(r"opacity\(([^)]*)\)", get("filter", ""))
    for alpha in (opacity, _number(faded.group(1)) if faded else None):
        if alpha is not None and alpha <= 0.05:
            return True
    if font and _tiny_font(css):
        return True
    color = get("color")
    if _transparent(color) or (
        color not in _KEYWORDS and color in (get("background-color"), get("background"))
    ):
        return True
    if _transformed_away(get("transform", "")) or _clipped(get("clip", ""), get("clip-path", "")):
        return True
    overflow = {get("overflow"), get("overflow-x"), get("overflow-y")} & {"hidden", "clip"}
    sizes = ("height", "max-height", "width", "max-width")
    if overflow and any(_under(get(p), 2.0) for p in sizes):
        return True
    if any(_far_off(get(p)) for p in ("text-indent", "margin-left", "margin-top")):
        return True
    if get("position") in ("absolute", "fixed", "relative"):
        return any(_far_off(get(side)) for side in ("left", "top", "right"))
    return False


def _tiny_font(css: dict[str, str]) -> bool:
    """Whether declarations ``css`` set a font size under 2px (``font-size`` or ``font``)."""
    return _under(css.get("font-size") or _font_size(css.get("font", "")), 2.0)


def _transparent(color: str | None) -> bool:
    """Whether CSS ``color`` has (nearly) no alpha: ``transparent``, ``rgba(…,0)``, ``#0000``…"""
    if not color:
        return False
    if color == "transparent":
        return True
    hexa = re.fullmatch(r"#([0-9a-f]{4}|[0-9a-f]{8})", color)
    if hexa:
        digits = hexa.group(1)
        return int(digits[-1] if len(digits) == 4 else digits[-2:], 16) == 0
    args = re.fullmatch(r"(?:rgb|hsl|hwb|lab|lch|oklab|oklch)a?\((.*)\)", color)
    if not args:
        return False
    parts = re.split(r"\s*/\s*", args.group(1))
    alpha = parts[1] if len(parts) == 2 else None
    if alpha is None:
        values = re.split(r"[,\s]+", args.group(1).strip())
        alpha = values[3] if len(values) == 4 else None
    level = _number(alpha)
    return level is not None and level <= 0.05


def _font_size(font: str) -> str | None:
    """Return the size in a ``font`` shorthand ("bold 0/0 a" → "0"), or None."""
    for token in font.split():
        size = token.split("/")[0]
        if size == "0" or (_pixels(size) is not None and not size.isdigit()):
            return size
    return None


def _declarations(style: str) -> dict[str, str]:
    """Return ``style``'s declarations: names and values lower-case, without ``!important``."""
    out: dict[str, str] = {}
    important: set[str] = set()
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if not colon or name in important:  # an !important value beats any later one
            continue
        value, bang = re.subn(r"!\s*important\s*$", "", value.strip().lower())
        if bang:
            important.add(name)
        out[name] = re.sub(r"\s*([,()])\s*", r"\1", value.strip())
    return out


def _number(value: str | None) -> float | None:
    """Return a plain number or percentage (as a fraction), or None."""
    if not value:
        return None
    match = _LENGTH.match(value)
    if not match or match.group(2) not in ("", "%"):
        return None
    number = float(match.group(1))
    return number / 100 if match.group(2) == "%" else number


def _pixels(value: str | None) -> float | None:
    """Return a CSS length in approximate pixels (a viewport unit as 10px, % as 5px), or None.

    ``calc()``, ``min()``, ``max()`` and ``clamp()`` of one length are that length.
    """
    value = value or ""
    while (inner := re.fullmatch(r"(?:calc|min|max|clamp)\(([^(),]*)\)", value)) is not None:
        value = inner.group(1).strip()
    match = _LENGTH.match(value)
    if not match or match.group(2) not in _PX_PER:
        return None
    return float(match.group(1)) * _PX_PER[match.group(2)]


def _under(value: str | None, px: float) -> bool:
    size = _pixels(value)
    return size is not None and size < px


def _far_off(value: str | None) -> bool:
    offset = _pixels(value)
    return offset is not None and offset <= -OFF_SCREEN_PX


def _clipped(clip: str, clip_path: str) -> bool:
    """Return whether ``clip: rect(…)`` or ``clip-path`` leaves no visible area."""
    rect = re.fullmatch(r"rect\((.*)\)", clip)
    if rect:
        sides = [_pixels(v) for v in re.split(r"[,\s]+", rect.group(1).strip())]
        if len(sides) == 4 and None not in sides:
            top, right, bottom, left = sides
            return bottom <= top or right <= left  # type: ignore[operator]
    inset = re.fullmatch(r"inset\(([\d.]+)%.*\)", clip_path)
    if inset:
        return float(inset.group(1)) >= 50
    return re.fullmatch(r"(circle|ellipse)\(0*\.?0*(px|%|em)?( .*)?\)", clip_path) is not None


def _transformed_away(transform: str) -> bool:
    """Return whether ``transform`` scales to nothing or translates far out of view."""
    for args in re.findall(r"scale(?:[xyz]|3d)?\(([^)]*)\)", transform):
        factors = [_number(v) for v in re.split(r"[,\s]+", args.strip()) if v]
        if any(f is not None and abs(f) <= 0.05 for f in factors):
            return True
    # A percentage is of the element's own size: translate(-50%,-50%) centres, it does not hide.
    shifts = re.findall(r"translate(?:[xy]|3d)?\(([^,)]+)", transform)
    return any(_far_off(v) for v in shifts if not v.endswith("%"))
