"""The review page of a cut: one self-contained HTML file, built from plain data by a pure function.

The page plays the cut stored beside it (its own name with `-review.html` replaced by `.mp4`, so it
works opened from disk and served by `vidpipe review`), shows a timeline of the scenes that seeks
the player, and every attempt of every scene with its grades, issues and prompt. Thumbnails are
inline data URIs, the style and script are inline: the page makes no request but for the cut.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pydantic import BaseModel, Field

REVIEW_SUFFIX = "-review.html"


class AttemptReview(BaseModel):
    attempt: int
    status: str
    accepted: bool
    grades: dict[str, Any] = Field(default_factory=dict, description="Whatever the judge and the checks recorded, shown as given.")
    issues: list[str] = Field(default_factory=list)
    prompt: str = ""


class SceneReview(BaseModel):
    key: str
    description: str
    duration_s: float
    start_s: float | None = Field(default=None, description="Where the scene begins in the cut; None when it is not in it.")
    thumbnail: str = Field(default="", description="A data: URI, or empty.")
    score: float | None = None
    skipped: str | None = Field(default=None, description="Why the scene was left out of the cut.")
    attempts: list[AttemptReview] = Field(default_factory=list)


class FilmReview(BaseModel):
    project: str
    title: str
    kind: str = Field(description="'final cut' or 'preview'.")
    duration_s: float
    scenes: list[SceneReview]
    attention: str | None = None


def scene_starts(durations: list[float | None]) -> list[float | None]:
    """Where each scene begins in a cut made of the scenes with a duration (None: not in the cut)."""
    starts, position = [], 0.0
    for duration in durations:
        if duration is None:
            starts.append(None)
        else:
            starts.append(round(position, 3))
            position += duration
    return starts


def review_page(film: FilmReview) -> str:
    """The whole HTML document. Every piece of user text is escaped."""
    in_cut = [scene for scene in film.scenes if scene.start_s is not None]
    timeline = "".join(_timeline_cell(scene, film.duration_s) for scene in in_cut)
    details = "".join(_scene_details(scene) for scene in film.scenes)
    attention = attention_banner(film.attention) if film.attention else ""
    spans = json.dumps([[scene.key, scene.start_s, scene.start_s + scene.duration_s] for scene in in_cut]).replace("</", "<\\/")
    title = escape(f"{film.title} ({film.project}): {film.kind}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; media-src 'self'">
<title>{title}</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>{escape(film.title)}</h1><p class="sub">project <b>{escape(film.project)}</b> · {escape(film.kind)} · {film.duration_s:.2f} s · {len(in_cut)} of {len(film.scenes)} scenes</p></header>
{attention}<!--vidpipe:attention-->
<main>
<video id="film" controls preload="auto" playsinline></video>
<nav id="timeline" aria-label="scenes">{timeline}</nav>
<section id="scenes">{details}</section>
</main>
<script>
const spans = {spans};
const video = document.getElementById("film");
video.src = location.pathname.split("/").pop().replace(/{REVIEW_SUFFIX.replace(".", "[.]")}$/, ".mp4");
for (const cell of document.querySelectorAll("#timeline .scene")) {{
  cell.addEventListener("click", () => {{
    video.currentTime = Number(cell.dataset.start) + 0.05;
    document.getElementById("scene-" + cell.dataset.scene).scrollIntoView({{block: "nearest"}});
  }});
}}
video.addEventListener("timeupdate", () => {{
  const now = video.currentTime;
  for (const [key, start, end] of spans) {{
    const cell = document.querySelector(`#timeline .scene[data-scene="${{key}}"]`);
    cell.classList.toggle("playing", now >= start && now < end);
  }}
}});
</script>
</body></html>
"""


def attention_banner(message: str) -> str:
    return f'<p class="attention" role="alert"><b>Needs attention:</b> {escape(message)}</p>'


def _timeline_cell(scene: SceneReview, total_s: float) -> str:
    share = 100.0 * scene.duration_s / total_s if total_s else 0.0
    image = f'<img alt="" src="{escape(scene.thumbnail)}">' if scene.thumbnail.startswith("data:image/") else ""
    score = f"{scene.score:.2f}" if scene.score is not None else "-"
    return (
        f'<button class="scene" style="flex-basis:{share:.3f}%" data-scene="{escape(scene.key)}" data-start="{scene.start_s}" '
        f'title="{escape(scene.description)}">{image}<span>scene {escape(scene.key)}</span>'
        f'<span class="facts">{scene.duration_s:g} s · score {score}</span></button>'
    )


def _scene_details(scene: SceneReview) -> str:
    state = f'<p class="skipped">skipped: {escape(scene.skipped)}</p>' if scene.skipped else ""
    rows = "".join(_attempt_row(attempt) for attempt in scene.attempts) or '<p class="none">no attempts yet</p>'
    return (
        f'<article class="detail" id="scene-{escape(scene.key)}" data-scene="{escape(scene.key)}">'
        f"<h2>scene {escape(scene.key)} <small>{scene.duration_s:g} s</small></h2>"
        f'<p class="description">{escape(scene.description)}</p>{state}{rows}</article>'
    )


def _attempt_row(attempt: AttemptReview) -> str:
    grades = "".join(f"<dt>{escape(str(name))}</dt><dd>{escape(_grade(value))}</dd>" for name, value in attempt.grades.items())
    issues = "".join(f"<li>{escape(issue)}</li>" for issue in attempt.issues)
    label = "accepted" if attempt.accepted else attempt.status
    return (
        f'<div class="attempt{" accepted" if attempt.accepted else ""}" data-attempt="{attempt.attempt}">'
        f'<h3>attempt {attempt.attempt} <span class="badge">{escape(label)}</span></h3>'
        f'<dl class="grades">{grades}</dl>'
        f'{f"<ul class=issues>{issues}</ul>" if issues else ""}'
        f'<details><summary>prompt</summary><pre>{escape(attempt.prompt)}</pre></details></div>'
    )


def _grade(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "-" if value is None else str(value)


_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{padding:12px 20px;background:#1b1b1b}h1{margin:0;font-size:22px}.sub{margin:4px 0 0;color:#aaa}
main{padding:12px 20px}video{width:100%;max-height:60vh;background:#000;display:block}
.attention{margin:0;padding:10px 20px;background:#7a1d1d;color:#fff}
#timeline{display:flex;gap:4px;margin:10px 0}
.scene{flex:1 1 0;min-width:70px;border:2px solid #333;background:#222;color:#eee;padding:4px;cursor:pointer;text-align:left}
.scene img{width:100%;height:96px;display:block;object-fit:cover}.scene span{display:block;font-size:12px}
.scene .facts{color:#aaa}.scene.playing{border-color:#f5a623}
#scenes{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.detail{background:#1b1b1b;padding:10px;border-radius:6px}.detail h2{margin:0 0 4px;font-size:17px}
.description{color:#ccc}.skipped{color:#f5a623}
.attempt{border-left:4px solid #555;padding:4px 8px;margin:6px 0}.attempt.accepted{border-color:#2ea043}
.attempt h3{margin:0;font-size:14px}.badge{font-size:12px;background:#333;padding:1px 6px;border-radius:8px}
.accepted .badge{background:#2ea043}
.grades{display:grid;grid-template-columns:auto 1fr;gap:0 10px;margin:4px 0;font-size:13px}.grades dt{color:#aaa}.grades dd{margin:0}
.issues{color:#f08080;margin:4px 0;padding-left:18px;font-size:13px}pre{white-space:pre-wrap;font-size:12px;color:#ccc}
"""
