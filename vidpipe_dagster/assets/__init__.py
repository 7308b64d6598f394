"""The asset graph, in pipeline order."""

from vidpipe_dagster.assets.brief import brief
from vidpipe_dagster.assets.final_video import final_video
from vidpipe_dagster.assets.preview import preview_video
from vidpipe_dagster.assets.references import character_sheets, location_sheets
from vidpipe_dagster.assets.scenes import scene_clip, scene_keyframes
from vidpipe_dagster.assets.storyboard import storyboard

PIPELINE_ASSETS = [brief, storyboard, character_sheets, location_sheets, scene_keyframes, scene_clip, preview_video, final_video]
