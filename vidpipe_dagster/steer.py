"""Steering a project from the UI: a small job whose launchpad config says what to do, the same
switches the CLI's `stop`/`resume`/`skip` set."""

from typing import Literal

from dagster import Config, OpExecutionContext, job, op
from pydantic import Field

from vidpipe_dagster.domain import scene_key, validate_project_id
from vidpipe_dagster.resources.controls import ProjectControls


class SteerConfig(Config):
    project: str = Field(description="The project id (its partition name).")
    action: Literal["pause", "resume", "skip", "unskip"] = Field(
        description="pause: the sequencer leaves the project alone; resume: it carries on (a failed step is asked for again); "
        "skip / unskip: leave a scene out of the cut, or put it back."
    )
    scene: int = Field(default=0, ge=0, description="The scene number, for skip and unskip.")
    reason: str = Field(default="", description="Why the scene is skipped (shown in the review page and the cut's metadata).")


@op(out={}, description="Set a project's switch as the config says.")
def steer(context: OpExecutionContext, config: SteerConfig, controls: ProjectControls):  # no output: nothing to store
    project = validate_project_id(config.project)
    if config.action in ("pause", "resume"):
        controls.set_paused(project, config.action == "pause")
        context.log.info(f"project {project}: {config.action}d")
        return
    key = scene_key(config.scene)
    if config.action == "unskip":
        controls.unskip_scene(project, key)
    elif not config.reason.strip():
        raise ValueError("reason: say why the scene is skipped")
    else:
        controls.skip_scene(project, key, config.reason.strip())
    context.log.info(f"project {project}: scene {key} {config.action}ped")


@job(description="Pause or resume a project, or skip a scene of it: fill in the launchpad's config.")
def steer_project():
    steer()
