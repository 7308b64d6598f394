"""Intake against a hand-written corpus of nasty briefs, on a local inbox (SQLite instance) and on
a GCS inbox (the emulator, with Postgres as the Dagster instance). The property test beside it
(`test_intake_properties.py`) generates more."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from vidpipe_dagster.domain import BriefLimits, InvalidBrief
from vidpipe_dagster.intake import BRIEFS_PER_TICK, ProjectExists, store_brief, submit_brief
from vidpipe_dagster.resources import resource_from_environment
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource, LocalBlobStore
from vidpipe_dagster_tests.audio_tracks import write_sections
from vidpipe_dagster_tests.intake_harness import IntakeHarness, check_tick

MAX_AUDIO_BYTES = 500_000


@dataclass(frozen=True)
class Case:
    tag: str  # the start of the file name, kept in accepted/ and rejected/ whatever follows
    content: bytes
    reason: str | None  # None: accepted
    name_tail: str = ".json"
    local_only: bool = False

    @property
    def name(self) -> str:
        return f"{self.tag}{self.name_tail}"


def brief(project: str, **fields) -> bytes:
    return json.dumps({"project_id": project, "prompt": "a heron at dawn", **fields}).encode()


def corpus(inbox_url: str, outside_url: str) -> list[Case]:
    secret, gcs = f"{outside_url}/secret.wav", inbox_url.startswith("gs://")
    return [
        # Decoding: each of these once kept the sensor retrying forever.
        Case("c01-latin1", '{"project_id": "c-one", "prompt": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
        Case("c02-deep", b"[" * 200_000 + b"]" * 200_000, "nests too deeply"),
        Case("c03-deep-small", b'{"project_id": "c-three", "prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests too deeply"),
        Case("c04-digits", b'{"project_id": "c-four", "prompt": "x", "seed": ' + b"9" * 5000 + b"}", "digits"),
        Case("c05-nan", b'{"project_id": "c-five", "prompt": "x", "scene_count": NaN}', "brief.scene_count"),
        Case("c06-array", b"[1, 2]", "must be a JSON object"),
        Case("c07-empty", b"", "not valid JSON"),
        Case("c08-bom", b"\xef\xbb\xbf" + brief("c-eight"), None),
        Case("c09-big", b" " * 1_000_001, "the limit is 1000000"),
        Case("c10-huge-key", json.dumps({"project_id": "c-ten", "prompt": "x", "k" * 100_000: 1}).encode(), "brief.kkkkkkkk"),
        Case("c11-surrogate", b'{"project_id": "c-eleven", "prompt": "\\ud800"}', "brief.prompt"),
        Case("c12-seed", brief("c-twelve", seed=2**40), "brief.seed"),
        # File names.
        Case("c13-long-" + "n" * 187, brief("c-thirteen"), "file name is 201 bytes long; the limit is 200"),
        Case("c14-" + "é" * 95, brief("c-fourteen"), None),
        Case("c15 spaces #?*[] ü", brief("c-fifteen"), None),
        Case("c16-", brief("c-sixteen"), "not UTF-8", name_tail="\udcff.json", local_only=True),
        # Duplicates in one tick: the first wins.
        Case("c17-dup-first", brief("c-dup"), None),
        Case("c18-dup-second", brief("c-dup", prompt="another"), "a duplicate"),
        Case("c19-dup-same", brief("c-dup"), "a duplicate"),
        # The audio track.
        Case("c20-audio", brief("c-twenty", audio="track.wav"), None),
        Case("c21-absolute", brief("c-twenty-one", audio="/etc/passwd"), "absolute path"),
        Case("c22-climb", brief("c-twenty-two", audio="../outside/secret.wav"), "'..'"),
        Case("c23-climb-deep", brief("c-twenty-three", audio="sub/../../outside/secret.wav"), "'..'"),
        Case("c24-submissions", brief("c-twenty-four", audio="submissions/c-twenty/audio.wav"), "submissions/"),
        Case("c25-text", brief("c-twenty-five", audio="fake.wav"), "is not an audio track"),
        Case("c26-missing", brief("c-twenty-six", audio="nope.wav"), "does not exist"),
        Case("c27-too-long", brief("c-twenty-seven", audio="long.wav"), f"the limit is {MAX_AUDIO_BYTES}"),
        Case("c28-scheme", brief("c-twenty-eight", audio="file:///etc/passwd"), "a path beside the brief or a gs:// URI"),
        Case("c29-backslash", brief("c-twenty-nine", audio="..\\outside\\secret.wav"), "'/' between folders"),
        Case("c30-nul", brief("c-thirty", audio="track.wav\x00"), "printable"),
        Case("c31-gs-elsewhere", brief("c-thirty-one", audio="gs://another-bucket/secret.wav"), "gs:// tracks are taken only from"),
        Case("c32-outside", brief("c-thirty-two", audio=secret), "gs:// tracks are taken only from" if gcs else "absolute path"),
        Case("c33-link", brief("c-thirty-three", audio="link.wav"), "leads outside", local_only=True),
        Case("c34-link-dir", brief("c-thirty-four", audio="linkdir/secret.wav"), "leads outside", local_only=True),
        Case("c35-fifo", brief("c-thirty-five", audio="fifo.wav"), "not a plain file", local_only=True),
        Case("c36-dot-path", brief("c-thirty-six", audio="./tracks/../track.wav"), "'..'"),
        Case("c37-own", brief("c-thirty-seven", audio=f"{inbox_url}/track.wav"), None if gcs else "absolute path"),
        Case("c38-newline\nand\ttab", brief("c-thirty-eight"), None, local_only=True),  # GCS names take no newline
    ]


def gcs_url(bucket: str, prefix: str) -> str:
    return f"gs://{bucket}/{prefix}"


@pytest.fixture(params=["local", "gcs"])
def intake(request, tmp_path: Path) -> tuple[IntakeHarness, str]:
    """An empty inbox with a valid track, a text file named .wav and a long track in it, and a
    secret track outside it; returns the harness and the URL of the folder holding the secret."""
    track, fake, long = tmp_path / "track.wav", tmp_path / "fake.wav", tmp_path / "long.wav"
    write_sections(track, [(1.0, 220, 0.3)])
    fake.write_text("RIFF....WAVEfmt this is text, not sound\n")
    write_sections(long, [(6.0, 330, 0.3)])
    if request.param == "local":
        instance: DagsterInstance = request.getfixturevalue("instance")
        inbox, outside = tmp_path / "inbox", tmp_path / "outside"
        inbox.mkdir()
        outside.mkdir()
        for source in (track, fake, long):
            os.link(source, inbox / source.name)
        write_sections(outside / "secret.wav", [(1.0, 880, 0.5)])
        (inbox / "link.wav").symlink_to(outside / "secret.wav")
        (inbox / "linkdir").symlink_to(outside)
        os.mkfifo(inbox / "fifo.wav")
        inbox_url, storage_url, outside_url = str(inbox), str(tmp_path / "objects"), str(outside)
    else:
        instance = request.getfixturevalue("deployment_instance")
        bucket = request.getfixturevalue("gcs_bucket")
        inbox_url, storage_url, outside_url = gcs_url(bucket, "inbox"), gcs_url(bucket, "objects"), gcs_url(bucket, "outside")
        box = InboxResource(url=inbox_url).open()
        for source in (track, fake, long):
            box.deliver(source.name, source)
        secret = tmp_path / "secret.wav"
        write_sections(secret, [(1.0, 880, 0.5)])
        InboxResource(url=outside_url).open().deliver("secret.wav", secret)
    harness = IntakeHarness(instance, InboxResource(url=inbox_url, max_audio_bytes=MAX_AUDIO_BYTES), BlobStoreResource(url=storage_url))
    return harness, outside_url


def test_every_nasty_brief_is_accepted_or_rejected_with_its_reason_and_the_good_ones_become_projects(intake):
    harness, outside_url = intake
    gcs = harness.inbox.url.startswith("gs://")
    cases = [case for case in corpus(harness.inbox.url, outside_url) if not (gcs and case.local_only)]
    for case in cases:
        harness.drop(case.name, case.content)
    harness.drop("zz-witness.json", brief("witness"))

    first, last = harness.tick(), harness.tick()  # 20 briefs a tick

    assert len(first.accepted) + len(first.rejected) == BRIEFS_PER_TICK and len(first.accepted) == len(first.projects)
    check_tick(last, dropped=len(cases) + 1 - BRIEFS_PER_TICK, witnesses=["witness"])
    accepted = [*first.accepted, *last.accepted]
    rejected = {**first.rejected, **last.rejected}
    outcomes = {name.split("/", 1)[1][:3]: reason for name, reason in [*((n, None) for n in accepted), *rejected.items()]}
    for case in cases:
        reason = outcomes[case.tag[:3]]
        if case.reason is None:
            assert reason is None, f"{case.tag} was rejected: {reason}"
        else:
            assert reason is not None and case.reason in reason, f"{case.tag}: {reason!r}"
            assert len(reason) <= 2001
    # The track a brief names is stored beside it under a key of vidpipe's own, byte for byte.
    stored = harness.stored_brief("c-twenty")
    assert stored.audio.startswith("submissions/c-twenty/audio-") and stored.audio.endswith(".wav")
    assert harness.blob_store.open().get_bytes(stored.audio) == harness.read("track.wav")
    if gcs:  # a relative path in a GCS inbox is read from the inbox, not the daemon's directory
        assert harness.blob_store.open().get_bytes(harness.stored_brief("c-thirty-seven").audio) == harness.read("track.wav")


def test_a_brief_for_a_project_that_exists_is_rejected_and_the_stored_one_kept(intake):
    harness, _ = intake
    harness.drop("first.json", brief("kept", prompt="the first"))
    assert harness.tick().projects == ["kept"]
    harness.drop("again.json", brief("kept", prompt="the first"))  # the same brief again: a retry
    again = harness.tick()
    harness.drop("other.json", brief("kept", prompt="another"))
    other = harness.tick()

    assert again.projects == ["kept"] and not again.rejected  # the same run key: no second run
    assert not other.projects and ["project 'kept' exists already" in reason for reason in other.rejected.values()] == [True]
    assert harness.stored_brief("kept").prompt == "the first"


def test_a_brief_waits_while_our_storage_fails_without_holding_up_others_and_is_taken_once_it_is_back(intake, tmp_path):
    harness, _ = intake
    healthy = harness.blob_store
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("storage cannot make folders under a file")
    harness.blob_store = BlobStoreResource(url=str(blocker / "objects"))
    harness.drop("patient.json", brief("patient"))
    harness.drop("bad.json", b"{oops")

    first = harness.tick()
    second = harness.tick()
    harness.blob_store = healthy
    third = harness.tick()

    assert first.waiting == second.waiting == ["patient.json"] and not first.projects and not second.projects
    assert ["not valid JSON" in reason for reason in first.rejected.values()] == [True]
    assert json.loads(harness.cursor) == {}
    assert third.projects == ["patient"] and third.waiting == []


def test_a_brief_is_rejected_once_its_tries_are_used_up(intake, tmp_path):
    harness, _ = intake
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("storage cannot make folders under a file")
    harness.blob_store = BlobStoreResource(url=str(blocker / "objects"))
    harness.drop("doomed.json", brief("doomed"))

    ticks = [harness.tick() for _ in range(BriefLimits().max_tries)]

    assert all(tick.waiting == ["doomed.json"] for tick in ticks[:-1])
    assert ticks[-1].waiting == [] and not ticks[-1].projects
    [reason] = ticks[-1].rejected.values()
    assert f"could not store this brief in {BriefLimits().max_tries} tries" in reason


def test_store_brief_takes_a_launchpad_brief_only_with_a_track_it_may_read(tmp_path, instance):
    store = LocalBlobStore(tmp_path / "objects")
    write_sections(tmp_path / "track.wav", [(1.0, 220, 0.3)])
    with pytest.raises(InvalidBrief, match="a relative path needs the brief's folder"):
        store_brief(instance, store, brief("launchpad", audio="track.wav"))
    with pytest.raises(InvalidBrief, match="gs:// tracks are taken only from none"):
        store_brief(instance, store, brief("launchpad", audio="gs://bucket/track.wav"))
    stored = store_brief(instance, store, brief("launchpad", audio="track.wav"), base_dir=tmp_path)
    assert store.get_bytes(stored.audio) == (tmp_path / "track.wav").read_bytes()
    submit_brief(instance, store, brief("other"))
    with pytest.raises(ProjectExists):
        store_brief(instance, store, brief("other", prompt="something else"))


def test_a_huge_brief_and_a_fifo_are_refused_unread_and_the_tick_goes_on(tmp_path, instance):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with open(inbox / "huge.json", "wb") as huge:
        huge.truncate(50 * 1024 * 1024)  # 50 MB, sparse: reading it whole would show in the test's time
    os.mkfifo(inbox / "never-ends.json")  # a reader that waits for its end never returns
    harness = IntakeHarness(instance, InboxResource(url=str(inbox)), BlobStoreResource(url=str(tmp_path / "objects")))
    harness.drop("witness.json", brief("witness"))

    tick = harness.tick()

    check_tick(tick, dropped=3, witnesses=["witness"])
    assert sorted(reason.strip() for reason in tick.rejected.values()) == [
        "huge.json is 52428800 bytes; the limit is 1000000",
        "never-ends.json is not a plain file",
    ]


def test_a_gs_track_is_taken_from_the_sources_the_environment_allows_and_nowhere_else(gcs_bucket, tmp_path, instance, vidpipe_env, monkeypatch):
    monkeypatch.setenv("VIDPIPE_INBOX_URL", f"gs://{gcs_bucket}/inbox")
    monkeypatch.setenv("VIDPIPE_AUDIO_SOURCES", f"gs://{gcs_bucket}/library/, gs://{gcs_bucket}/more")
    monkeypatch.setenv("VIDPIPE_BRIEF_MAX_BYTES", "5000")
    inbox = resource_from_environment("inbox")
    write_sections(tmp_path / "song.wav", [(1.0, 220, 0.3)])
    for folder in ("library", "library-extra"):
        InboxResource(url=f"gs://{gcs_bucket}/{folder}").open().deliver("song.wav", tmp_path / "song.wav")
    harness = IntakeHarness(instance, inbox, BlobStoreResource(url=str(tmp_path / "objects")))
    harness.drop("a.json", brief("from-library", audio=f"gs://{gcs_bucket}/library/song.wav"))
    harness.drop("b.json", brief("from-extra", audio=f"gs://{gcs_bucket}/library-extra/song.wav"))
    harness.drop("c.json", brief("too-big", prompt="x" * 5000))

    tick = harness.tick()

    assert tick.projects == ["from-library"]
    assert harness.blob_store.open().get_bytes(harness.stored_brief("from-library").audio) == (tmp_path / "song.wav").read_bytes()
    reasons = sorted(tick.rejected.values())
    assert "gs:// tracks are taken only from" in reasons[0] and f"gs://{gcs_bucket}/inbox" in reasons[0]
    assert reasons[1].startswith("c.json is ") and reasons[1].strip().endswith("bytes; the limit is 5000")
