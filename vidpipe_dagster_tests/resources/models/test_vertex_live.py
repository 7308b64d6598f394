"""OPT-IN: the `vertex` backend against real Vertex AI. Costs a little money; never runs by default.

Runs only when all of these hold (checked without any network access):
- VIDPIPE_RUN_VERTEX_TESTS=1
- GOOGLE_CLOUD_PROJECT is set
- credentials are present: VIDPIPE_VERTEX_ACCESS_TOKEN, or GOOGLE_APPLICATION_CREDENTIALS naming a
  file, or gcloud's application-default credentials file

    VIDPIPE_RUN_VERTEX_TESTS=1 GOOGLE_CLOUD_PROJECT=my-project \\
        .venv/bin/pytest -m vertex vidpipe_dagster_tests/resources/models/test_vertex_live.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidpipe_dagster.domain import Brief
from vidpipe_dagster.resources.models.vertex import VertexSettings, VertexTextModel


def _credentials_present() -> bool:
    if os.environ.get("VIDPIPE_VERTEX_ACCESS_TOKEN"):
        return True
    named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return Path(named).is_file()
    config = Path(os.environ.get("CLOUDSDK_CONFIG", Path.home() / ".config" / "gcloud"))
    return (config / "application_default_credentials.json").is_file()


def _live_enabled() -> bool:
    return (
        os.environ.get("VIDPIPE_RUN_VERTEX_TESTS") == "1"
        and bool(os.environ.get("GOOGLE_CLOUD_PROJECT"))
        and _credentials_present()
    )


pytestmark = [
    pytest.mark.vertex,
    pytest.mark.skipif(
        not _live_enabled(),
        reason="real Vertex AI: set VIDPIPE_RUN_VERTEX_TESTS=1, GOOGLE_CLOUD_PROJECT and credentials",
    ),
]


def test_real_gemini_writes_a_valid_storyboard():
    settings = VertexSettings(
        access_token=os.environ.get("VIDPIPE_VERTEX_ACCESS_TOKEN") or None,
        request_timeout_s=120,
        max_attempts=3,
    )
    model = VertexTextModel(settings=settings, model=os.environ.get("VIDPIPE_VERTEX_TEXT_MODEL", "gemini-2.5-flash"))
    brief = Brief(project_id="live-check", prompt="A paper boat sails across a rain puddle", scene_count=2)
    storyboard, call = model.write_storyboard(brief, scene_durations=[4, 6])
    assert [scene.duration_s for scene in storyboard.scenes] == [4, 6]
    assert call.usage["total_tokens"] > 0 and call.seconds > 0
