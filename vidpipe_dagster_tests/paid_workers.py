"""Processes that make paid calls, for the race and crash tests: a priced stand-in for Veo, a
budget race worker, and a worker that polls a Veo operation on the loopback server until killed."""

from __future__ import annotations

import traceback
from pathlib import Path

from dagster import ConfigurableResource

from vidpipe_dagster.domain import ModelCall, Scene
from vidpipe_dagster.paid_path import PaidStep
from vidpipe_dagster.resources.models.vertex_client import VertexSettings
from vidpipe_dagster.resources.models.vertex import VertexVideoModel
from vidpipe_dagster.resources.paid_calls import BudgetExceeded, PaidCalls

SCENE = Scene(
    number=1, duration_s=6, description="a kite lifts off", shot_type="wide shot", camera_angle="low angle",
    camera_movement="static", lighting="dusk", characters=[], location="dunes",
)


class PricedVideoModel(ConfigurableResource):
    """Stands in for Veo at Veo's price: billed by the pricing table, renders nothing costly. It
    reports `video_seconds` from its prompt (`...|seconds=5.9`) so actual costs differ from the estimate."""

    model: str = "veo-3.1-generate-001"
    generate_audio: bool = False

    def clip(self, *, prompt, scene, start_frame, end_frame, out, size, seed) -> ModelCall:
        Path(out).write_bytes(f"clip for {prompt}".encode())
        seconds = float(prompt.rsplit("seconds=", 1)[1]) if "seconds=" in prompt else float(scene.duration_s)
        return ModelCall(model=self.model, seconds=0.0, usage={"video_seconds": seconds})


def paid_calls_for(database_url: str, objects: str) -> PaidCalls:
    return PaidCalls(database_url=database_url, storage_url=objects)


def step_for(calls: PaidCalls, project: str, run_id: str) -> PaidStep:
    return PaidStep(calls=calls, project_id=project, partition=f"{project}|001", asset="scene_clip", run_id=run_id)


def budget_race_worker(worker: int, database_url: str, objects: str, projects: list[str], frame: str, start, results) -> None:
    """One call per round, each round on its own project, all workers released by one barrier."""
    try:
        calls = paid_calls_for(database_url, objects)
        model = PricedVideoModel()
        workspace = Path(objects).parent / f"worker-{worker}"
        workspace.mkdir(parents=True, exist_ok=True)
        for project in projects:
            step = step_for(calls, project, f"worker-{worker}")
            start.wait(timeout=120)
            try:
                call = step.bind(model).clip(
                    prompt=f"worker {worker} of {project}|seconds={5.5 + worker / 10}", scene=SCENE, start_frame=Path(frame),
                    end_frame=Path(frame), out=workspace / f"{project}.mp4", size=(64, 36), seed=worker,
                )
                results.put((worker, project, "paid", call.cost_usd))
            except BudgetExceeded as refused:
                results.put((worker, project, "refused", refused.description))
    except BaseException:
        results.put((worker, None, "crashed", traceback.format_exc()))


def polling_worker(database_url: str, objects: str, base_url: str, token: str, project: str, clip: dict) -> None:
    """Starts a Veo clip on the loopback server and polls it until the test kills this process."""
    settings = VertexSettings(
        project="test-project", location="us-central1", base_url=base_url, access_token=token,
        request_timeout_s=5, max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.05,
    )
    model = VertexVideoModel(settings=settings, poll_interval_s=0.05, operation_timeout_s=600)
    step = step_for(paid_calls_for(database_url, objects), project, "run-that-dies")
    step.bind(model).clip(**{**clip, "scene": SCENE, "start_frame": Path(clip["start_frame"]), "end_frame": Path(clip["end_frame"]), "out": Path(clip["out"])})
