"""The `vidpipe` command as a user runs it: a real subprocess on the embedded defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

from vidpipe_dagster.media.probe import probe


def run_vidpipe(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIDPIPE_", "DAGSTER_HOME"))}
    env.update(VIDPIPE_HOME=str(home / "vidpipe"), VIDPIPE_WORKSPACE_ROOT=str(home / "workspaces"))
    vidpipe = Path(sys.executable).parent / "vidpipe"
    return subprocess.run([str(vidpipe), *args], env=env, cwd=home, capture_output=True, text=True, timeout=600)


def test_demo_prints_progress_and_the_path_of_a_playable_video(tmp_path):
    brief = tmp_path / "brief.json"
    brief.write_text(json.dumps({"project_id": "cli-demo", "prompt": "two kites over a beach", "scene_count": 2}))

    result = run_vidpipe("demo", "--brief", str(brief), "--out", "renders", home=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert any("scene 002/002" in line for line in lines)
    final = Path(lines[-1])
    assert final == tmp_path / "renders" / "cli-demo.mp4"
    assert probe(final).frame_count > 0
    assert (tmp_path / "renders" / "cli-demo-contact-sheet.png").is_file()
    assert not any((tmp_path / "workspaces").iterdir())

    status = run_vidpipe("--url", "http://127.0.0.1:9", "status", "cli-demo", home=tmp_path)
    assert status.returncode == 0, status.stderr[-3000:]
    assert "costs: spent $0.00, reserved $0.00, limit unlimited" in status.stdout  # the local backend is free
    assert any(line.split()[:2] == ["002", "$0.00"] for line in status.stdout.splitlines())
    budget = run_vidpipe("budget", "cli-demo", "--set", "40", home=tmp_path)
    assert "project cli-demo: budget set; spent $0.00, reserved $0.00, limit $40.00" in budget.stdout
    assert run_vidpipe("budget", "cli-demo", "--set", "-1", home=tmp_path).returncode == 2

    again = run_vidpipe("demo", "--brief", str(brief), "--out", "renders", home=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "project cli-demo exists; running this demo as cli-demo-" in again.stdout


def test_a_bad_brief_is_refused_with_the_field_named(tmp_path):
    brief = tmp_path / "brief.json"
    brief.write_text(json.dumps({"project_id": "Bad Id", "prompt": "x"}))
    result = run_vidpipe("demo", "--brief", str(brief), home=tmp_path)
    assert result.returncode == 2
    assert "brief.project_id" in result.stderr
