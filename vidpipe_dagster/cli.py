"""The `vidpipe` command."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from importlib import resources as package_files
from pathlib import Path

from vidpipe_dagster.domain import InvalidInput, parse_brief
from vidpipe_dagster.resources import vidpipe_home

SAMPLE_BRIEF = "lighthouse.json"


def prepare_dagster_home() -> Path:
    """Use DAGSTER_HOME when the user set one; otherwise vidpipe's embedded instance under
    VIDPIPE_HOME, whose dagster.yaml vidpipe owns and refreshes."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = vidpipe_home() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    embedded = package_files.files("vidpipe_dagster").joinpath("deploy/embedded.dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(embedded)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _demo(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from vidpipe_dagster.definitions import defs
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import submit_brief

    prepare_dagster_home()
    if args.brief:
        raw, base_dir = Path(args.brief).read_text(), Path(args.brief).resolve().parent
    else:
        raw, base_dir = package_files.files("vidpipe_dagster").joinpath(f"samples/{SAMPLE_BRIEF}").read_text(), None
    brief = parse_brief(raw)
    instance = DagsterInstance.get()
    if instance.has_dynamic_partition("projects", brief.project_id):
        # A demo is meant to be run again and again; a real submission keeps its id or is refused.
        fresh = f"{brief.project_id[:54]}-{uuid.uuid4().hex[:8]}"
        print(f"project {brief.project_id} exists; running this demo as {fresh}")
        brief = brief.model_copy(update={"project_id": fresh})
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, brief.model_dump(mode="json"), base_dir=base_dir)
    print(f"project {brief.project_id}: submitted ({instance.root_directory})")
    final = run_project(defs, instance, store, brief.project_id, progress=lambda line: print(f"  {line}", flush=True))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    destination = store.get_file(final.objects["final.mp4"].key, out_dir / f"{brief.project_id}.mp4")
    store.get_file(final.objects["contact_sheet.png"].key, out_dir / f"{brief.project_id}-contact-sheet.png")
    print(f"stored:     {final.objects['final.mp4'].uri}")
    print(destination.resolve())
    return 0


def _dev(args: argparse.Namespace) -> int:
    prepare_dagster_home()
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    command = [dagster, "dev", "-m", "vidpipe_dagster.definitions", "-h", args.host, "-p", str(args.port)]
    os.execv(command[0], command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidpipe", description="Turn a creative brief into a finished video.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the whole pipeline in this process on the embedded instance")
    demo.add_argument("--brief", help="a brief JSON file (default: the bundled lighthouse sample)")
    demo.add_argument("--out", default="out", help="folder to copy the final MP4 and contact sheet to")
    demo.set_defaults(handler=_demo)
    dev = commands.add_parser("dev", help="open the Dagster UI (dagster dev) on the embedded instance")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InvalidInput as exc:
        print(f"vidpipe: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
