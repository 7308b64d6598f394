"""The `vidpipe` command as a user runs it: a real subprocess on the embedded defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

from vidpipe_dagster.cli import main
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster_tests.audio_tracks import write_sections
from vidpipe_dagster_tests.intake_harness import IntakeHarness


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


def test_submit_drops_the_brief_and_its_track_into_the_inbox_and_the_sensor_takes_them(tmp_path, instance):
    folder = tmp_path / "my-briefs"
    folder.mkdir()
    write_sections(folder / "song.wav", [(1.0, 220, 0.3)])
    (folder / "brief.json").write_text(json.dumps({"project_id": "cli-song", "prompt": "a kite", "audio": "song.wav"}))

    result = run_vidpipe("submit", str(folder / "brief.json"), home=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    inbox = tmp_path / "vidpipe" / "inbox"
    harness = IntakeHarness(instance, InboxResource(url=str(inbox)), BlobStoreResource(url=str(tmp_path / "objects")))
    assert harness.tick().projects == ["cli-song"]
    stored = harness.stored_brief("cli-song")
    assert harness.blob_store.open().get_bytes(stored.audio) == (folder / "song.wav").read_bytes()


def test_submit_refuses_a_bad_brief_in_one_line_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)

    result = run_vidpipe("submit", str(tmp_path / "deep.json"), home=tmp_path)

    assert (result.returncode, result.stderr.count("\n")) == (2, 1), result.stderr
    assert result.stderr.startswith("vidpipe: brief is not valid JSON: it nests too deeply")
    assert not (tmp_path / "vidpipe" / "inbox").exists()


def submit_cases(folder: Path, outside: Path) -> dict[str, tuple[Path, str]]:
    """What `vidpipe submit` is given, and what its one line of error must say."""
    write_sections(outside / "secret.wav", [(1.0, 880, 0.5)])
    (folder / "fake.wav").write_text("not sound")
    (folder / "link.wav").symlink_to(outside / "secret.wav")
    os.mkfifo(folder / "fifo.json")
    cases = {
        "a folder": (folder, "is a folder"),
        "missing": (folder / "nope.json", "does not exist"),
        "latin-1": (b'{"project_id": "x1", "prompt": "caf\xe9"}', "not UTF-8"),
        "digits": (b'{"project_id": "x2", "prompt": "x", "seed": ' + b"9" * 5000 + b"}", "digits"),
        "too big": (b" " * 1_000_001, "the limit is 1000000"),
        "a fifo": (folder / "fifo.json", "is not a plain file"),
        "absolute audio": ({"audio": str(outside / "secret.wav")}, "absolute path"),
        "climbing audio": ({"audio": "../outside/secret.wav"}, "'..'"),
        "a link out": ({"audio": "link.wav"}, "leads outside"),
        "a stored key": ({"audio": "submissions/other/audio-0.wav"}, "submissions/"),
        "text as audio": ({"audio": "fake.wav"}, "is not an audio track"),
        "audio folder": ({"audio": "."}, "names no file"),
    }
    paths = {}
    for number, (label, (content, reason)) in enumerate(cases.items()):
        if isinstance(content, Path):
            paths[label] = (content, reason)
            continue
        if isinstance(content, dict):
            content = json.dumps({"project_id": f"case-{number}", "prompt": "x", **content}).encode()
        path = folder / f"case-{number}.json"
        path.write_bytes(content)
        paths[label] = (path, reason)
    (folder / "link.json").symlink_to(folder / f"case-{len(cases) - 1}.json")
    paths["a linked brief"] = (folder / "link.json", "is a link")
    return paths


def test_submit_refuses_every_nasty_brief_with_exit_code_2(tmp_path, vidpipe_env, capsys):
    folder, outside = tmp_path / "briefs", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    for label, (path, reason) in submit_cases(folder, outside).items():
        assert main(["submit", str(path)]) == 2, label
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith("vidpipe: ") and reason in error, f"{label}: {error}"
    inbox = vidpipe_env / "inbox"
    assert not inbox.exists() or not any(path.is_file() for path in inbox.rglob("*"))


def test_submit_to_a_gcs_inbox_carries_the_track_into_the_bucket(tmp_path, vidpipe_env, gcs_bucket, instance, monkeypatch, capsys):
    monkeypatch.setenv("VIDPIPE_INBOX_URL", f"gs://{gcs_bucket}/inbox")
    write_sections(tmp_path / "song.wav", [(1.0, 220, 0.3)])
    (tmp_path / "brief.json").write_text(json.dumps({"project_id": "gcs-song", "prompt": "a kite", "audio": "song.wav"}))

    assert main(["submit", str(tmp_path / "brief.json")]) == 0

    assert f"brief dropped into gs://{gcs_bucket}/inbox/gcs-song-" in capsys.readouterr().out
    harness = IntakeHarness(instance, InboxResource(url=f"gs://{gcs_bucket}/inbox"), BlobStoreResource(url=str(tmp_path / "objects")))
    assert harness.tick().projects == ["gcs-song"]
    assert harness.blob_store.open().get_bytes(harness.stored_brief("gcs-song").audio) == (tmp_path / "song.wav").read_bytes()
