import json
import os
import subprocess
import sys
import time

import pytest

from vidpipe_dagster.resources.workspace import OWNER_FILE, WorkspaceResource


def test_two_steps_with_the_same_label_never_share_a_directory(tmp_path):
    workspace = WorkspaceResource(root=str(tmp_path))
    with workspace.open("run1-scene_clip-film|001") as first, workspace.open("run1-scene_clip-film|001") as second:
        assert first != second
        (first / "clip.mp4").write_bytes(b"a")
        assert not (second / "clip.mp4").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_step_leaves_nothing_behind(tmp_path):
    workspace = WorkspaceResource(root=str(tmp_path))
    with pytest.raises(RuntimeError):
        with workspace.open("doomed") as directory:
            (directory / "partial.mp4").write_bytes(b"x" * 100)
            raise RuntimeError("ffmpeg died")
    assert list(tmp_path.iterdir()) == []


def test_the_sweep_removes_what_a_killed_process_left_and_keeps_live_work(tmp_path):
    workspace = WorkspaceResource(root=str(tmp_path))
    live = workspace.create("live")
    # A real process that creates a workspace and is then killed with SIGKILL: it cannot clean up.
    code = (
        "import sys, time\n"
        "from vidpipe_dagster.resources.workspace import WorkspaceResource\n"
        f"d = WorkspaceResource(root={str(tmp_path)!r}).create('victim')\n"
        "print(d, flush=True)\n"
        "time.sleep(60)\n"
    )
    victim = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    orphan = victim.stdout.readline().strip()
    victim.kill()
    victim.wait()
    foreign = tmp_path / "other-host-old"
    foreign.mkdir()
    (foreign / OWNER_FILE).write_text(json.dumps({"host": "elsewhere", "pid": os.getpid(), "started": time.time() - 10**6}))

    removed = {path.name for path in workspace.sweep()}

    assert removed == {os.path.basename(orphan), "other-host-old"}
    assert live.exists()
