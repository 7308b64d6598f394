"""The `vidpipe` command as a user runs it: a real subprocess on the embedded defaults."""

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe_dagster.cli import build_parser, main
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import execute_partition
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster_tests.audio_tracks import write_sections
from vidpipe_dagster_tests.intake_harness import IntakeHarness
from vidpipe_dagster_tests.test_in_process import sample_brief


def run_vidpipe(*args: str, home: Path, cwd: Path | None = None, vidpipe_home: Path | None = None, **env_vars: str) -> subprocess.CompletedProcess:
    """`vidpipe` in a subprocess; `vidpipe_home=None` leaves VIDPIPE_HOME unset (found from `cwd`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIDPIPE_", "DAGSTER_HOME"))}
    env.update(VIDPIPE_WORKSPACE_ROOT=str(home / "workspaces"), **env_vars)
    if vidpipe_home is not None:
        env.update(VIDPIPE_HOME=str(vidpipe_home))
    vidpipe = Path(sys.executable).parent / "vidpipe"
    return subprocess.run([str(vidpipe), *args], env=env, cwd=cwd or home, capture_output=True, text=True, timeout=600)


def run_demo(*args: str, home: Path) -> subprocess.CompletedProcess:
    return run_vidpipe("demo", *args, home=home, vidpipe_home=home / "vidpipe")


def test_demo_prints_progress_and_the_path_of_a_playable_video(tmp_path):
    brief = tmp_path / "brief.json"
    brief.write_text(json.dumps({"project_id": "cli-demo", "prompt": "two kites over a beach", "scene_count": 2}))

    result = run_demo("--brief", str(brief), "--out", "renders", home=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert any("scene 002/002" in line for line in lines)
    # Quiet: one line per step (setup, two scenes, the cut) and a few of the demo's own, no Dagster lines.
    steps = 4
    assert len(lines) <= 2 * steps, lines
    assert "DEBUG" not in result.stdout + result.stderr and " - dagster - " not in result.stdout + result.stderr
    final = Path(lines[-1])
    assert final == tmp_path / "renders" / "cli-demo.mp4"
    assert probe(final).frame_count > 0
    assert (tmp_path / "renders" / "cli-demo-contact-sheet.png").is_file()
    assert not any((tmp_path / "workspaces").iterdir())

    status = run_vidpipe("--url", "http://127.0.0.1:9", "status", "cli-demo", home=tmp_path, vidpipe_home=tmp_path / "vidpipe")
    assert status.returncode == 0, status.stderr[-3000:]
    assert "costs: spent $0.00, reserved $0.00, limit unlimited" in status.stdout  # the local backend is free
    assert any(line.split()[:2] == ["002", "$0.00"] for line in status.stdout.splitlines())
    budget = run_vidpipe("budget", "cli-demo", "--set", "40", home=tmp_path, vidpipe_home=tmp_path / "vidpipe")
    assert "project cli-demo: budget set; spent $0.00, reserved $0.00, limit $40.00" in budget.stdout
    assert run_vidpipe("budget", "cli-demo", "--set", "-1", home=tmp_path, vidpipe_home=tmp_path / "vidpipe").returncode == 2

    again = run_demo("--brief", str(brief), "--out", "renders", "--verbose", home=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "project cli-demo exists; running this demo as cli-demo-" in again.stdout
    assert " - dagster - DEBUG - " in again.stdout + again.stderr


def test_a_bad_brief_is_refused_with_the_field_named(tmp_path):
    brief = tmp_path / "brief.json"
    brief.write_text(json.dumps({"project_id": "Bad Id", "prompt": "x"}))
    result = run_demo("--brief", str(brief), home=tmp_path)
    assert result.returncode == 2
    assert "brief.project_id" in result.stderr


def test_a_brief_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    (tmp_path / "latin1.json").write_bytes('{"project_id": "caf\u00e9", "prompt": "x"}'.encode("latin-1"))
    result = run_demo("--brief", str(tmp_path / "latin1.json"), home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["vidpipe: the brief is not UTF-8 text: byte 0xe9 at offset 19"]


def test_submit_drops_the_brief_and_its_track_into_the_inbox_and_the_sensor_takes_them(tmp_path, instance):
    folder = tmp_path / "my-briefs"
    folder.mkdir()
    write_sections(folder / "song.wav", [(1.0, 220, 0.3)])
    (folder / "brief.json").write_text(json.dumps({"project_id": "cli-song", "prompt": "a kite", "audio": "song.wav"}))

    result = run_vidpipe("submit", str(folder / "brief.json"), home=tmp_path, vidpipe_home=tmp_path / "vidpipe")

    assert result.returncode == 0, result.stderr[-3000:]
    inbox = tmp_path / "vidpipe" / "inbox"
    harness = IntakeHarness(instance, InboxResource(url=str(inbox)), BlobStoreResource(url=str(tmp_path / "objects")))
    assert harness.tick().projects == ["cli-song"]
    stored = harness.stored_brief("cli-song")
    assert harness.blob_store.open().get_bytes(stored.audio) == (folder / "song.wav").read_bytes()


def test_submit_refuses_a_bad_brief_in_one_line_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)

    result = run_vidpipe("submit", str(tmp_path / "deep.json"), home=tmp_path, vidpipe_home=tmp_path / "vidpipe")

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


@pytest.fixture
def cli_project(tmp_path, monkeypatch, instance) -> Path:
    """A project with a storyboard and no cut, in a `.vidpipe` home at tmp_path; returns the home."""
    home = tmp_path / ".vidpipe"
    monkeypatch.setenv("VIDPIPE_HOME", str(home))
    monkeypatch.setenv("VIDPIPE_WORKSPACE_ROOT", str(tmp_path / "workspaces"))
    defs = build_defs()
    submit_brief(instance, defs.resources["blob_store"].open(), sample_brief(project_id="harbor"))
    execute_partition(defs, instance, "project_setup", "harbor", "harbor")
    return home


def snapshot(home: Path) -> dict[str, object]:
    """Every file under the home by content; the SQLite database by its rows (not its journal files)."""
    state: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        if path.name.endswith(("-wal", "-shm")) or not path.is_file():
            continue
        if path.suffix == ".db":
            with sqlite3.connect(path) as connection:
                state[str(path)] = list(connection.iterdump())
        else:
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("status", "nosuchproject"), "project 'nosuchproject' does not exist in"),
        (("status", "Bad_Id"), "project id 'Bad_Id' is not a slug"),
        (("skip", "harbor", "9", "--reason", "x"), "scene 009 does not exist: the storyboard"),
        (("skip", "harbor", "0", "--reason", "x"), "scene number 0 is outside 1..99"),
        (("skip", "harbor", "2"), "--reason: say why the scene is skipped"),
        (("review", "harbor"), "project 'harbor' has no cut to review yet"),
        (("resume", "nosuchproject"), "project 'nosuchproject' does not exist"),
        (("regenerate", "harbor", "two"), "argument scene: invalid int value: 'two'"),
        (("bogus",), "invalid choice: 'bogus'"),
    ],
)
def test_a_user_error_is_one_line_exit_2_and_changes_nothing(cli_project, tmp_path, args, says):
    before = snapshot(cli_project)
    result = run_vidpipe(*args, home=tmp_path, vidpipe_home=cli_project)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert snapshot(cli_project) == before


def test_stop_reaches_the_webserver_before_pausing_anything(cli_project, tmp_path):
    before = snapshot(cli_project)
    result = run_vidpipe("stop", "harbor", "--url", "http://127.0.0.1:9", home=tmp_path, vidpipe_home=cli_project)
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1 and "cannot reach the Dagster webserver at http://127.0.0.1:9" in result.stderr
    assert snapshot(cli_project) == before


def test_a_run_request_to_an_absent_webserver_says_so_in_one_line(tmp_path):
    result = run_vidpipe("regenerate", "harbor", "2", "--url", "http://127.0.0.1:9", home=tmp_path, vidpipe_home=tmp_path / "vidpipe")
    assert result.returncode == 3
    assert result.stderr == "vidpipe: the Dagster webserver at http://127.0.0.1:9: cannot reach it; start it with `make dev`\n"


def test_help_answers_without_loading_dagster_or_the_database(tmp_path):
    """`vidpipe --help` (and a mistyped command) should answer at once: it needs neither Dagster,
    its GraphQL client nor SQLAlchemy, which take about two seconds to load together."""
    show_help = (
        "import json, sys\n"
        "from vidpipe_dagster.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", show_help], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
    usage, loaded = result.stdout.rsplit("\n", 2)[0], json.loads(result.stdout.splitlines()[-1])
    assert "regenerate" in usage and "budget" in usage
    assert {"dagster", "dagster_graphql", "sqlalchemy"}.isdisjoint(loaded)


def test_status_works_from_any_folder_of_the_project_and_says_where_it_looked(cli_project, tmp_path):
    build_defs().resources["controls"].record_attention("harbor", "0123456789", "scene_clip", "harbor|002", "the video model refused")
    deeper = tmp_path / "scenes" / "notes"
    deeper.mkdir(parents=True)
    result = run_vidpipe("status", "harbor", "--url", "http://127.0.0.1:9", home=tmp_path, cwd=deeper)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"vidpipe home: {cli_project} (found from {deeper})",
        "needs attention: step scene_clip [harbor|002] failed in run 01234567: the video model refused",
    ]
    assert any(line.startswith("project harbor: '") and line.endswith(", 4 scenes, 24 s") for line in result.stdout.splitlines()), result.stdout
    assert "(no webserver at http://127.0.0.1:9" in result.stdout  # --url after the subcommand

    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    lost = run_vidpipe("status", "harbor", home=tmp_path, cwd=elsewhere)
    assert lost.returncode == 2
    assert lost.stderr.strip() == (
        f"vidpipe: no vidpipe home with projects at {elsewhere / '.vidpipe'} "
        f"(no .vidpipe in {elsewhere} or any folder above it, and VIDPIPE_HOME is not set)"
    )
    assert not (elsewhere / ".vidpipe").exists()


def test_an_unexpected_error_is_one_line_and_debug_shows_its_traceback(cli_project, tmp_path):
    unreachable = {"VIDPIPE_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:9/none"}
    quiet = run_vidpipe("status", "harbor", home=tmp_path, vidpipe_home=cli_project, **unreachable)
    assert quiet.returncode == 1
    assert len(quiet.stderr.splitlines()) == 1 and quiet.stderr.startswith("vidpipe: OperationalError: ")
    assert "(--debug shows the traceback)" in quiet.stderr
    loud = run_vidpipe("status", "harbor", "--debug", home=tmp_path, vidpipe_home=cli_project, **unreachable)
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr


def test_url_and_debug_go_before_or_after_the_subcommand(monkeypatch):
    monkeypatch.delenv("VIDPIPE_DAGSTER_URL", raising=False)
    parse = build_parser().parse_args
    assert parse(["--url", "http://127.0.0.1:1", "status", "harbor"]).url == "http://127.0.0.1:1"
    assert parse(["status", "harbor", "--url", "http://127.0.0.1:2"]).url == "http://127.0.0.1:2"
    assert parse(["--debug", "status", "harbor"]).debug and parse(["status", "harbor", "--debug"]).debug
    defaults = parse(["status", "harbor"])
    assert (defaults.url, defaults.debug) == ("http://127.0.0.1:3000", False)


def test_every_subcommand_and_argument_has_help_and_there_is_a_version():
    parser = build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    for name, sub in subcommands.choices.items():
        assert sub.description, name
        for action in sub._actions:
            assert action.help, f"vidpipe {name} {action.dest}"
    version = subprocess.run([str(Path(sys.executable).parent / "vidpipe"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("vidpipe 0.")
