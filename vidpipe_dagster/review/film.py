"""What a review page shows, gathered from a project's storyboard, its attempt log and the stored
manifests of the attempts (their prompts, grades and issues)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from vidpipe_dagster.artifacts import read_manifest, split_partition
from vidpipe_dagster.domain import StoredArtifact, Storyboard
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptRecord, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStore, ObjectMissing
from vidpipe_dagster.review.page import AttemptReview, FilmReview, SceneReview, review_page, scene_starts


def attempt_reviews(records: list[AttemptRecord], accepted: int | None, manifest: Callable[[int], StoredArtifact]) -> list[AttemptReview]:
    """Every stored attempt of one scene's clip; grades and issues as the attempt recorded them."""
    reviews = []
    for record in records:
        if record.status == AttemptStatus.ALLOCATED:
            continue  # never stored: nothing to show
        try:
            facts = manifest(record.attempt).facts
        except ObjectMissing:
            facts = {}
        reviews.append(
            AttemptReview(
                attempt=record.attempt,
                status=record.status.value,
                accepted=record.attempt == accepted,
                grades=facts.get("quality") or record.scores,
                issues=facts.get("problems") or ([record.note] if record.note else []),
                prompt=facts.get("prompt", ""),
            )
        )
    return reviews


def film_review(
    *,
    project: str,
    kind: str,
    board: Storyboard,
    clips: Mapping[str, StoredArtifact],
    clip_records: list[AttemptRecord],
    manifest: Callable[[str, int], StoredArtifact],
    thumbnails: Mapping[str, str],
    skipped: Mapping[str, str],
    duration_s: float,
    attention: str | None = None,
) -> FilmReview:
    """`clips` are the accepted clips in the cut, by scene key; `manifest(partition, attempt)` reads
    a stored attempt of scene_clip."""
    by_scene: dict[str, list[AttemptRecord]] = {}
    for record in clip_records:
        by_scene.setdefault(split_partition(record.partition)[1], []).append(record)
    durations = [float(clips[scene.key].facts.get("duration_s", scene.duration_s)) if scene.key in clips else None for scene in board.scenes]
    scenes = []
    for scene, start in zip(board.scenes, scene_starts(durations)):
        clip = clips.get(scene.key)
        partition = f"{project}|{scene.key}"
        attempts = attempt_reviews(by_scene.get(scene.key, []), clip.attempt if clip else None, lambda attempt: manifest(partition, attempt))
        accepted = next((a for a in attempts if a.accepted), None)
        score = accepted.grades.get("score") if accepted else None
        scenes.append(
            SceneReview(
                key=scene.key,
                description=scene.description,
                duration_s=float(clip.facts.get("duration_s", scene.duration_s)) if clip else float(scene.duration_s),
                start_s=start,
                thumbnail=thumbnails.get(scene.key, ""),
                score=score if isinstance(score, (int, float)) else None,
                skipped=skipped.get(scene.key),
                attempts=attempts,
            )
        )
    return FilmReview(project=project, title=board.metadata.title, kind=kind, duration_s=duration_s, scenes=scenes, attention=attention)


def write_review_page(
    out: Path,
    *,
    kind: str,
    project: str,
    board: Storyboard,
    clips: Mapping[str, StoredArtifact],
    thumbnails: Mapping[str, Path],
    ledger: AttemptLedger,
    store: BlobStore,
    skipped: Mapping[str, str],
    duration_s: float,
) -> Path:
    """The review page of a cut made of `clips` (scene key -> accepted clip), written to `out`."""
    from vidpipe_dagster.media.draw import jpeg_data_uri

    out.write_text(
        review_page(
            film_review(
                project=project, kind=kind, board=board, clips=clips,
                clip_records=ledger.attempts("scene_clip", partition_prefix=f"{project}|"),
                manifest=lambda partition, attempt: read_manifest(store, "scene_clip", partition, attempt),
                thumbnails={key: jpeg_data_uri(path, 320) for key, path in thumbnails.items()},
                skipped=skipped, duration_s=duration_s,
            )
        )
    )
    return out
