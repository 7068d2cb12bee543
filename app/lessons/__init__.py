"""Lessons: guided tours of the page, one Markdown file each.

A lesson file is a small front matter, then steps separated by a line holding only ``---``::

    ---
    id: forget-gate
    title: The forget gate keeps a memory
    ---
    state: model=recall-lstm&preset=C, 10 blanks, then the cue&t=1
    highlight: diagram

    The recall model reads one letter, then blanks. Watch **f** stay near 1 ...

    ---
    page: lab
    state: tab=gradients&gf=rnn,lstm,gru
    ...

Each step starts with ``key: value`` lines: ``state`` (the page's URL-hash keys, required),
``highlight`` (a named region such as ``diagram`` or a CSS selector), ``page`` (``main``, the
default, or ``lab``) and ``scrolls`` (why the step cannot fit one 1280x720 screen in presenter
mode; a step without it must fit, and the player scrolls to the highlighted region either way); a
blank line, then the caption: plain text with minimal Markdown (**bold**, *emphasis*, `code`),
which the page renders as text, never as HTML. Parsing is pure: it takes text and returns a
`Lesson`, or raises a `ValueError` that says what is wrong and where.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

log = logging.getLogger(__name__)

MAX_LESSON_BYTES = 64 * 1024
MAX_STEPS = 40
MAX_CAPTION = 1500
MAX_TITLE = 120
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SEPARATOR = "---"

#: The URL-hash keys a step may set: the main page's (static/js/state.js) and the lab's
#: (static/js/lab/state.js). Anything else is refused, so a typo fails loudly.
STATE_KEYS = frozenset(
    {
        *("model", "compare", "preset", "text", "csv", "t", "unit", "layer", "obj", "color", "speed"),
        *("teach", "open", "tab", "variant", "src", "gf", "T", "H", "scale", "fb", "nl", "seed"),
        *("clip", "cost"),
        *("ps", "pe", "th", "lesson", "step"),
    }
)
#: Named regions a step may highlight, and the element each names on the page.
REGIONS = {
    "diagram": "#diagram-figure",
    "heatmaps": "#heatmaps",
    "gradients": ".gradients-plot",
    "inspector": ".inspector",
    "equations": "#equations",
    "text": "#textview-section",
    "timeline": ".timeline",
    "compare": ".compare",
    "gates": "#gate-compare",
    "zoo": "#zoo-panel",
    "lab-gradients": "#view-gradients",
    "lab-cost": "#view-cost",
    "lab-equations": "#view-equations",
}
PAGES = ("main", "lab")
_SELECTOR = re.compile(r"^[A-Za-z0-9_#.\-\[\]=\"' :>,()]{1,200}$")
_HTML = re.compile(r"<\s*/?\s*[A-Za-z!?]")


@dataclass(frozen=True)
class LessonStep:
    state: dict[str, str]
    text: str
    highlight: str | None = None
    page: str = "main"
    scrolls: str | None = None  # why the step is taller than one presenter screen, if it is


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    steps: list[LessonStep] = field(default_factory=list)
    source: str = "builtin"  # "builtin" (shipped) or "teacher" (the lessons folder, or uploaded)


def _front_matter(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    if not lines or lines[0].strip() != SEPARATOR:
        raise ValueError("a lesson starts with a front matter: a '---' line, 'id: ...', 'title: ...', '---'")
    try:
        end = next(k for k in range(1, len(lines)) if lines[k].strip() == SEPARATOR)
    except StopIteration:
        raise ValueError("the front matter is not closed: add a '---' line after 'id' and 'title'") from None
    meta: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"line {number}: front matter lines are 'key: value', got {line.strip()!r}")
        meta[key.strip().lower()] = value.strip()
    return meta, lines[end + 1 :]


def _state(text: str, where: str) -> dict[str, str]:
    pairs = parse_qsl(text.strip().lstrip("#"), keep_blank_values=True, strict_parsing=False)
    if not pairs:
        raise ValueError(f"{where}: 'state' is empty; give the page's URL keys, e.g. model=recall-lstm&t=3")
    unknown = sorted({k for k, _ in pairs} - STATE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown state keys {unknown}; allowed: {sorted(STATE_KEYS)}")
    return dict(pairs)


def _highlight(value: str, where: str) -> str:
    if value in REGIONS or _SELECTOR.match(value):
        return value
    raise ValueError(
        f"{where}: highlight {value!r} is neither a region ({', '.join(REGIONS)}) nor a simple CSS selector"
    )


def _step(block: list[str], where: str) -> LessonStep:
    fields: dict[str, str] = {}
    k = 0
    while k < len(block) and not block[k].strip():
        k += 1
    while k < len(block) and block[k].strip():
        match = re.match(r"^(state|highlight|page|scrolls)\s*:\s*(.*)$", block[k].strip())
        if not match:
            break
        fields[match[1]] = match[2]
        k += 1
    text = "\n".join(line.rstrip() for line in block[k:]).strip()
    if "state" not in fields:
        raise ValueError(f"{where}: a step starts with a 'state: <URL keys>' line")
    if not text:
        raise ValueError(f"{where}: the caption is empty")
    if len(text) > MAX_CAPTION:
        raise ValueError(f"{where}: the caption has {len(text)} characters; at most {MAX_CAPTION}")
    if _HTML.search(text):
        raise ValueError(
            f"{where}: the caption holds HTML; captions are plain text with **bold**, *emphasis*, `code`"
        )
    page = fields.get("page", "main").strip() or "main"
    if page not in PAGES:
        raise ValueError(f"{where}: page is 'main' or 'lab', got {page!r}")
    highlight = fields.get("highlight", "").strip() or None
    return LessonStep(
        state=_state(fields["state"], where),
        text=text,
        highlight=_highlight(highlight, where) if highlight else None,
        page=page,
        scrolls=fields.get("scrolls", "").strip() or None,
    )


def parse_lesson(text: str, source: str = "builtin") -> Lesson:
    """A lesson from its file's text; a ValueError says what is wrong."""
    if len(text.encode()) > MAX_LESSON_BYTES:
        raise ValueError(f"a lesson file is at most {MAX_LESSON_BYTES // 1024} KiB")
    lines = text.replace("\r\n", "\n").split("\n")
    meta, body = _front_matter(lines)
    lesson_id = meta.get("id", "")
    if not ID_PATTERN.match(lesson_id):
        raise ValueError(f"the id {lesson_id!r} must be lowercase letters, digits and '-', at most 64")
    title = meta.get("title", "")
    if not title or len(title) > MAX_TITLE or _HTML.search(title):
        raise ValueError(f"the title must be plain text of 1 to {MAX_TITLE} characters")
    blocks: list[list[str]] = [[]]
    for line in body:
        if line.strip() == SEPARATOR:
            blocks.append([])
        else:
            blocks[-1].append(line)
    blocks = [b for b in blocks if any(line.strip() for line in b)]
    if not blocks:
        raise ValueError("the lesson has no steps: write at least one 'state: ...' line and a caption")
    if len(blocks) > MAX_STEPS:
        raise ValueError(f"the lesson has {len(blocks)} steps; at most {MAX_STEPS}")
    steps = [_step(b, f"step {k + 1}") for k, b in enumerate(blocks)]
    return Lesson(id=lesson_id, title=title, steps=steps, source=source)


def shipped_dir() -> Path:
    return Path(__file__).parent


def load_lessons(folders: list[tuple[Path, str]]) -> tuple[list[Lesson], list[dict[str, str]]]:
    """Every lesson in ``folders`` ([(folder, source)], earlier ones win an id), and the files
    that could not be read ([{file, detail}]): a broken file never hides the others."""
    lessons: dict[str, Lesson] = {}
    problems: list[dict[str, str]] = []
    for folder, source in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            try:
                lesson = parse_lesson(path.read_text(encoding="utf-8"), source)
            except (ValueError, UnicodeDecodeError, OSError) as exc:
                log.warning("lesson %s skipped: %s", path, exc)
                problems.append({"file": path.name, "detail": str(exc)})
                continue
            lessons.setdefault(lesson.id, lesson)
    return list(lessons.values()), problems
