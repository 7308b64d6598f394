"""One job per partitioning: a project's setup, one scene, and the final cut.

Dagster runs one partition of one partitions definition per run, so a project is a sequence of
runs: setup, then each scene in order (the sequencing sensor or the CLI drives it), then the cut.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

project_setup_job = define_asset_job(
    "project_setup",
    selection=AssetSelection.assets("brief", "storyboard", "character_sheets", "location_sheets"),
    description="Validate the brief, write the storyboard, draw the reference sheets.",
)

scene_job = define_asset_job(
    "scene",
    selection=AssetSelection.assets("scene_keyframes", "scene_clip"),
    description="Keyframes and the clip of one scene.",
)

final_cut_job = define_asset_job(
    "final_cut",
    selection=AssetSelection.assets("final_video"),
    description="Stitch the accepted clips of a project into the final video.",
)

preview_job = define_asset_job(
    "preview",
    selection=AssetSelection.assets("preview_video"),
    description="Stitch the scenes accepted so far into a preview with its review page.",
)

PIPELINE_JOBS = [project_setup_job, scene_job, preview_job, final_cut_job]
