"""Intake, property-based: whatever lands in the inbox, every tick keeps the outcome rules.

Each example drops a few generated files into a fresh inbox beside a valid brief (the witness),
runs one tick of the inbox sensor, and checks: every file is accepted with its partition and run,
or rejected with a reason; the witness becomes a project; a brief that breaks a rule (junk bytes,
any JSON that is no brief, a track outside the inbox) is rejected, one that keeps them all is
accepted; a stored track is the inbox's own; and nothing is written outside the inbox and the
store. The seed is fixed; VIDPIPE_FUZZ_SCALE=10 runs ten times the examples.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster_tests.audio_tracks import write_sections
from vidpipe_dagster_tests.intake_harness import IntakeHarness, check_tick

EXAMPLES = round(1200 * float(os.environ.get("VIDPIPE_FUZZ_SCALE", "1")))

# Tracks a brief may not have, whatever else it says: outside its folder, or vidpipe's own.
REFUSED_AUDIO = [
    "{outside}/secret.wav",
    "../outside/secret.wav",
    "sub/../../outside/secret.wav",
    "./../outside/secret.wav",
    "link.wav",
    "linkdir/secret.wav",
    "submissions/anything/audio.wav",
    "./submissions/x.wav",
    "gs://bucket/secret.wav",
    "file:///etc/passwd",
    "fake.wav",
    "fifo.wav",
    "nope.wav",
    "..",
    "",
    "track.wav\x00",
    "C:\\outside\\secret.wav",
]
# Tracks a brief may have: the inbox's own track, however it is spelled, or through a link inside.
TAKEN_AUDIO = [None, "track.wav", "./track.wav", "sub//track.wav", "inlink.wav"]
NASTY_BLOBS = [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a": ' * 20_000 + b"1" + b"}" * 20_000,
    b'{"project_id": "p-a", "prompt": "x", "seed": ' + b"7" * 4400 + b"}",
    b"\xef\xbb\xbf\xef\xbb\xbf{}",
    '{"project_id": "p-a", "prompt": "caf\xe9"}'.encode("latin-1"),
    b'{"project_id": "p-a", "prompt": "\\udc80"}',
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
# Any name a file system takes: up to 255 bytes, no '/' or NUL; some are not UTF-8.
raw_names = st.binary(min_size=0, max_size=250).filter(lambda b: b"/" not in b and b"\x00" not in b).map(lambda b: os.fsdecode(b) + ".json")
text_names = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), max_size=120).map(lambda s: s + ".json").filter(
    lambda name: len(name.encode()) <= 255
)
long_names = st.text("abcé-", min_size=180, max_size=240).map(lambda s: s + ".json").filter(lambda name: len(name.encode()) <= 255)
legal_names = text_names.filter(lambda name: len(name.encode()) <= 200)
odd_text = st.text(max_size=200)


@st.composite
def hostile_brief(draw, number: int, outside: Path) -> tuple[bytes, bool]:
    """A valid brief with some of its fields given any value: (content, whether it must be
    rejected). Project ids come from a small pool, so a tick often holds duplicates, and some
    name a project an earlier example made."""
    hostile = {
        "project_id": st.sampled_from(["P A", "a", "-x", "x" * 64, "submissions"]) | st.text(max_size=70),
        "prompt": odd_text | st.just("x" * 8001) | json_values,
        "scene_count": st.integers(-3, 120) | st.just(10**30) | json_values,
        "scene_hints": st.lists(st.text(max_size=30), max_size=6) | json_values,
        "style": st.text(max_size=250),
        "aspect_ratio": st.sampled_from(["16:9", "9:16", "4:3", ""]),
        "audio": st.sampled_from(REFUSED_AUDIO + TAKEN_AUDIO + ["text"]).flatmap(lambda audio: st.text(max_size=60) if audio == "text" else st.just(audio)),
        "max_attempts": st.integers(-2, 20),
        "regenerate_later_scenes": st.booleans() | json_values,
        "seed": st.integers(-10, 2**70),
        "extra": json_values,
    }
    brief = {"project_id": draw(st.sampled_from([f"p{number}-a", f"p{number}-b", "p-shared"])), "prompt": draw(st.text(min_size=1, max_size=50).filter(str.strip))}
    # Either the track or up to two other fields: enough left valid to reach every check.
    fields = ["audio"] if draw(st.booleans()) else draw(st.lists(st.sampled_from(list(hostile)), max_size=2, unique=True))
    for field in fields:
        brief[field] = draw(hostile[field])
    if isinstance(brief.get("audio"), str) and brief["audio"].startswith("{outside}"):
        brief["audio"] = brief["audio"].format(outside=outside)
    refused = brief.get("audio") in [audio.format(outside=outside) for audio in REFUSED_AUDIO]
    return json.dumps(brief).encode(), refused


@st.composite
def legal_brief(draw, project: str) -> bytes:
    """A brief that keeps every rule, with odd but legal values."""
    brief = {
        "project_id": project,
        "prompt": draw(st.text(min_size=1, max_size=300).filter(str.strip)),
        "scene_count": draw(st.integers(6, 99)),
        "scene_hints": draw(st.lists(st.text(max_size=40), max_size=6)),
        "style": draw(st.text(max_size=200)),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }
    audio = draw(st.sampled_from(TAKEN_AUDIO))
    if audio is not None:
        brief["audio"] = audio
    return json.dumps(brief, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def tick_files(draw, number: int, outside: Path) -> tuple[dict[str, tuple[bytes, bool]], list[str]]:
    """Files to drop in one tick (name -> content, whether it must be rejected), and the projects
    of those among them that must be accepted."""
    files: dict[str, tuple[bytes, bool]] = {}
    legal = []
    for index in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["bytes", "json", "nasty", "hostile", "hostile", "hostile", "legal"]))
        name = draw(legal_names if kind == "legal" else st.sampled_from([text_names, text_names, raw_names, long_names]).flatmap(lambda names: names))
        if name in files:
            continue
        if kind == "bytes":
            files[name] = (draw(st.binary(max_size=3000)), True)
        elif kind == "json":
            files[name] = (json.dumps(draw(json_values)).encode(), True)
        elif kind == "nasty":
            files[name] = (draw(st.sampled_from(NASTY_BLOBS)), True)
        elif kind == "hostile":
            files[name] = draw(hostile_brief(number, outside))
        else:
            legal.append(f"legal-{number}-{index}")
            files[name] = (draw(legal_brief(legal[-1])), False)
    return files, legal


def make_inbox(folder: Path, track: Path) -> Path:
    """An inbox with the one track briefs may use, a link to it, and bait: a text file named
    .wav, a FIFO, and links to a secret track outside."""
    inbox, outside = folder / "inbox", folder / "outside"
    (inbox / "sub").mkdir(parents=True)
    outside.mkdir()
    os.link(track, inbox / "track.wav")
    os.link(track, inbox / "sub" / "track.wav")
    (inbox / "inlink.wav").symlink_to(inbox / "track.wav")
    write_sections(outside / "secret.wav", [(1.0, 880, 0.5)])
    (inbox / "fake.wav").write_text("RIFF, but words")
    os.mkfifo(inbox / "fifo.wav")
    (inbox / "link.wav").symlink_to(outside / "secret.wav")
    (inbox / "linkdir").symlink_to(outside)
    return inbox


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_any_files_in_the_inbox_keep_the_outcome_rules_and_the_valid_brief_beside_them_is_taken(tmp_path, instance, monkeypatch, capsys):
    sandbox, scratch, objects = tmp_path / "sandbox", tmp_path / "sandbox" / "tmp", tmp_path / "sandbox" / "objects"
    scratch.mkdir(parents=True)
    objects.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    track = write_sections(tmp_path / "track.wav", [(1.0, 220, 0.3)])
    blob_store = BlobStoreResource(url=str(objects))
    examples = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # a fixed seed: CI sees the same examples every time
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one_tick(data) -> None:
        number = len(examples)
        examples.append(number)
        folder = sandbox / f"example-{number}"
        inbox = make_inbox(folder, track)
        files, legal = data.draw(tick_files(number, folder / "outside"))
        witness = f"witness-{number}"
        harness = IntakeHarness(instance, InboxResource(url=str(inbox)), blob_store)
        for name, (content, _) in files.items():
            harness.drop(name, content)
        witness_name = data.draw(st.from_regex(r"[a-z0-9 _-]{1,40}", fullmatch=True).map(lambda s: s + ".json").filter(lambda n: n not in files))
        harness.drop(witness_name, json.dumps({"project_id": witness, "prompt": "a heron at dawn", "audio": "track.wav"}).encode())
        outside, top = tree(folder / "outside"), sorted(os.listdir(sandbox))

        tick = harness.tick()

        check_tick(tick, dropped=len(files) + 1, witnesses=[witness, *legal])
        assert len(tick.rejected) >= sum(refused for _, refused in files.values()), (tick, files)
        for project in tick.projects:
            # A stored track is the inbox's own, whichever way the brief named it.
            stored = harness.stored_brief(project)
            if stored.audio is not None:
                assert stored.audio.startswith(f"submissions/{project}/audio-")
                assert blob_store.open().get_bytes(stored.audio) == track.read_bytes()
        # Nothing written outside the inbox and the store: the bait is untouched, no new folder
        # appeared beside them, no scratch file is left.
        assert tree(folder / "outside") == outside
        assert sorted(os.listdir(sandbox)) == top
        assert sorted(os.listdir(folder)) == ["inbox", "outside"]
        assert os.listdir(scratch) == []

    started = time.monotonic()
    one_tick()
    with capsys.disabled():
        print(f"\nintake property test: {len(examples)} examples in {time.monotonic() - started:.1f} s")
