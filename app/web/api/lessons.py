"""GET /api/lessons and POST /api/lessons: the guided tours (gatescope.lessons parses them).

Shipped lessons are package data; a teacher adds one by dropping a ``.md`` file in the
``lessons_dir`` setting's folder, or by uploading it here (saved to that folder, so every worker
of ``gatescope serve --workers N`` and every restart sees it).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from gatescope.lessons import MAX_LESSON_BYTES, Lesson, load_lessons, parse_lesson, shipped_dir
from gatescope.settings import Settings
from gatescope.web.deps import SettingsDep, user_errors
from gatescope.web.schemas import Strict

router = APIRouter(prefix="/api", tags=["lessons"])


class LessonStepOut(BaseModel):
    state: dict[str, str] = Field(description="the page's URL-hash keys for this step")
    text: str = Field(description="the caption: plain text with **bold**, *emphasis*, `code`")
    highlight: str | None = Field(
        None, description="a named region (diagram, heatmaps, ...) or a CSS selector"
    )
    page: Literal["main", "lab"] = "main"
    scrolls: str | None = Field(
        None,
        description="why this step is taller than one 1280x720 presenter screen (it scrolls to its region)",
    )


class LessonOut(BaseModel):
    id: str
    title: str
    source: Literal["builtin", "teacher"]
    steps: list[LessonStepOut]


class LessonProblem(BaseModel):
    file: str
    detail: str


class LessonList(BaseModel):
    lessons: list[LessonOut]
    problems: list[LessonProblem] = Field(description="files in the lessons folder that could not be read")


class LessonUpload(Strict):
    source: str = Field(
        max_length=MAX_LESSON_BYTES, description="the lesson file's text (Markdown, see the README)"
    )


def _out(lesson: Lesson) -> LessonOut:
    return LessonOut(
        id=lesson.id,
        title=lesson.title,
        source="teacher" if lesson.source == "teacher" else "builtin",
        steps=[
            LessonStepOut(
                state=s.state,
                text=s.text,
                highlight=s.highlight,
                page="lab" if s.page == "lab" else "main",
                scrolls=s.scrolls,
            )
            for s in lesson.steps
        ],
    )


def all_lessons(settings: Settings) -> tuple[list[Lesson], list[dict[str, str]]]:
    return load_lessons([(shipped_dir(), "builtin"), (settings.lessons_dir, "teacher")])


@router.get("/lessons")
def get_lessons(settings: SettingsDep) -> LessonList:
    """Every lesson: the shipped ones, then the lessons folder's (a shipped id wins)."""
    lessons, problems = all_lessons(settings)
    return LessonList(lessons=[_out(x) for x in lessons], problems=[LessonProblem(**p) for p in problems])


@router.post("/lessons", status_code=201)
def post_lesson(body: LessonUpload, settings: SettingsDep) -> LessonOut:
    """Add a lesson: validated (size, id, state keys, no HTML), then saved as ``<id>.md`` in the
    lessons folder. A shipped lesson's id is refused (409); a teacher's own is replaced."""
    with user_errors():
        lesson = parse_lesson(body.source, source="teacher")
    shipped, _ = load_lessons([(shipped_dir(), "builtin")])
    if any(x.id == lesson.id for x in shipped):
        raise HTTPException(409, f"the id {lesson.id!r} is a shipped lesson's; choose another")
    folder = settings.lessons_dir
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{lesson.id}.md.tmp"
    tmp.write_text(body.source, encoding="utf-8")
    tmp.replace(folder / f"{lesson.id}.md")
    return _out(lesson)
