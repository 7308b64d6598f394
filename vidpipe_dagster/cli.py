"""The `vidpipe` command."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from importlib import resources as package_files
from pathlib import Path

import urllib.error

from dagster_graphql import DagsterGraphQLClientError

from vidpipe_dagster.domain import InvalidInput, parse_brief, scene_key, validate_project_id
from vidpipe_dagster.garbage import GC_GRACE_SECONDS, collect_garbage
from vidpipe_dagster.resources import resource_from_environment, vidpipe_home

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
    store = resource_from_environment("blob_store").open()
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


def _apply_pools() -> dict[str, int]:
    from dagster import DagsterInstance

    from vidpipe_dagster.pools import apply_pool_limits, pool_limits_from_env

    with DagsterInstance.get() as instance:
        return apply_pool_limits(instance, pool_limits_from_env())


def _dev(args: argparse.Namespace) -> int:
    prepare_dagster_home()
    _apply_pools()
    dagster = shutil.which("dagster") or str(Path(sys.executable).parent / "dagster")
    command = [dagster, "dev", "-m", "vidpipe_dagster.definitions", "-h", args.host, "-p", str(args.port)]
    os.execv(command[0], command)


def _pools(args: argparse.Namespace) -> int:
    from vidpipe_dagster.pools import MODEL_POOLS

    prepare_dagster_home()
    limits = _apply_pools()
    for pool in MODEL_POOLS:
        print(f"{pool}: {limits.get(pool, 'the instance default_limit')}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from vidpipe_dagster.intake import deliver_brief

    inbox = resource_from_environment("inbox")
    brief, where = deliver_brief(Path(args.brief), inbox.open(), inbox.limits())
    print(f"project {brief.project_id}: brief dropped into {where}; the inbox sensor starts it")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        report = collect_garbage(instance, resource_from_environment("ledger"), resource_from_environment("blob_store").open(), args.grace_seconds)
    print("\n".join(report.lines()))
    return 0


def _status(args: argparse.Namespace) -> int:
    from vidpipe_dagster.artifacts import read_manifest
    from vidpipe_dagster.domain import Storyboard
    from vidpipe_dagster.remote import Remote
    from vidpipe_dagster.resources.ledger import AttemptStatus
    from vidpipe_dagster.status import format_costs, format_table, scene_statuses

    ledger, store = resource_from_environment("ledger"), resource_from_environment("blob_store").open()
    boards = [r for r in ledger.attempts("storyboard", validate_project_id(args.project)) if r.status == AttemptStatus.ACCEPTED]
    if not boards:
        print(f"project {args.project}: no storyboard yet")
        return 1
    board = Storyboard.model_validate(read_manifest(store, "storyboard", args.project, boards[-1].attempt).data)
    print(f"project {args.project}: '{board.metadata.title}', {len(board.scenes)} scenes, {board.total_duration_s} s")
    print(format_table(scene_statuses(board.scene_keys, ledger.attempts("scene_clip", partition_prefix=f"{args.project}|"))))
    cuts = [r for r in ledger.attempts("final_video", args.project) if r.status == AttemptStatus.ACCEPTED]
    print(f"final cut: attempt {cuts[-1].attempt}, {cuts[-1].uri}" if cuts else "final cut: not yet")
    print(format_costs(resource_from_environment("paid_calls").totals(args.project)))
    try:
        runs = Remote(args.url).project_runs(args.project)
    except OSError:
        print(f"(no webserver at {args.url}: in-flight runs not shown)")
        return 0
    for run in runs:
        print(f"run {run.run_id[:8]} {run.status.lower():<9} {run.job} {run.partition}")
    return 0


def _regenerate(args: argparse.Namespace) -> int:
    from vidpipe_dagster.remote import Remote

    config = {"prompt_override": args.prompt or "", "force": args.force}
    # The extra direction reaches every model call of the scene: both keyframes and the clip.
    keyframes = {"prompt_override": args.prompt} if args.prompt else None
    run_id = Remote(args.url).run_scene(args.project, scene_key(args.scene), clip_config=config, keyframes_config=keyframes)
    print(f"regenerating scene {scene_key(args.scene)} of {args.project}: run {run_id}")
    return 0


def _accept(args: argparse.Namespace) -> int:
    from vidpipe_dagster.remote import Remote

    run_id = Remote(args.url).run_scene(
        args.project, scene_key(args.scene), clip_config={"use_attempt": args.attempt}, assets=["scene_clip"]
    )
    print(f"making attempt {args.attempt} the accepted clip of scene {scene_key(args.scene)}: run {run_id}")
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from vidpipe_dagster.remote import Remote, parse_scene_range

    scenes = parse_scene_range(args.scenes)
    backfill_id = Remote(args.url).backfill(args.project, scenes)
    print(f"backfill {backfill_id}: scenes {', '.join(scenes)} of {args.project}, one run at a time")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from vidpipe_dagster.remote import Remote

    resource_from_environment("controls").set_paused(args.project, True)
    remote = Remote(args.url)
    runs = remote.project_runs(args.project)
    remote.terminate([run.run_id for run in runs])
    print(f"project {args.project}: stopped; {len(runs)} run(s) terminated. `vidpipe resume {args.project}` carries on")
    return 0


def _resume(args: argparse.Namespace) -> int:
    resource_from_environment("controls").set_paused(args.project, False)
    print(f"project {args.project}: resumed; the sequencer picks it up on its next tick")
    return 0


def _budget(args: argparse.Namespace) -> int:
    paid_calls = resource_from_environment("paid_calls")
    project = validate_project_id(args.project)
    if args.unlimited or args.set is not None:
        state = paid_calls.set_budget(project, None if args.unlimited else args.set)
        print(f"project {project}: budget set; {state.describe()}. `vidpipe resume {project}` carries on")
    else:
        print(f"project {project}: {paid_calls.budget(project).describe()}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    print(f"{args.url}/asset-groups")
    return 0


def _usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of US dollars") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a budget cannot be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidpipe", description="Turn a creative brief into a finished video.")
    parser.add_argument(
        "--url", default=os.environ.get("VIDPIPE_DAGSTER_URL", "http://127.0.0.1:3000"),
        help="the Dagster webserver (env VIDPIPE_DAGSTER_URL)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    demo = command("demo", _demo, "run the whole pipeline in this process on the embedded instance")
    demo.add_argument("--brief", help="a brief JSON file (default: the bundled lighthouse sample)")
    demo.add_argument("--out", default="out", help="folder to copy the final MP4 and contact sheet to")
    dev = command("dev", _dev, "open the Dagster UI (dagster dev) on the embedded instance")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    command("submit", _submit, "drop a brief into the inbox").add_argument("brief")
    command("status", _status, "per-scene attempts, scores and state of a project").add_argument("project")
    regenerate = command("regenerate", _regenerate, "generate a scene again (later scenes follow per the brief)")
    regenerate.add_argument("project")
    regenerate.add_argument("scene", type=int)
    regenerate.add_argument("--prompt", help="extra direction added to the scene's description, for its keyframes and clip")
    regenerate.add_argument("--force", action="store_true", help="accept the first attempt whatever its quality")
    accept = command("accept", _accept, "make an earlier attempt of a scene's clip the accepted one")
    accept.add_argument("project")
    accept.add_argument("scene", type=int)
    accept.add_argument("attempt", type=int)
    backfill = command("backfill", _backfill, "regenerate a range of scenes as a backfill")
    backfill.add_argument("project")
    backfill.add_argument("--scenes", required=True, help="N or N-M, e.g. 2-4")
    command("stop", _stop, "stop a project: terminate its runs and pause sequencing").add_argument("project")
    command("resume", _resume, "let the sequencer carry on with a stopped project").add_argument("project")
    budget = command("budget", _budget, "show a project's budget, spent and reserved; or set it")
    budget.add_argument("project")
    limit = budget.add_mutually_exclusive_group()
    limit.add_argument("--set", type=_usd, metavar="USD", help="the most the project's model calls may cost")
    limit.add_argument("--unlimited", action="store_true", help="no limit")
    command("ui", _ui, "print the URL of the asset graph in the Dagster UI")
    gc = command("gc", _gc, "abandon attempts whose run died unpublished; remove abandoned objects older than the grace period")
    gc.add_argument(
        "--grace-seconds", type=int, default=GC_GRACE_SECONDS,
        help="leave objects of attempts younger than this (env VIDPIPE_GC_GRACE_SECONDS, default a day)",
    )
    command("pools", _pools, "apply VIDPIPE_*_MODEL_SLOTS to the instance and show each model pool's limit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (InvalidInput, FileNotFoundError) as exc:
        print(f"vidpipe: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, urllib.error.URLError) as exc:
        print(f"vidpipe: cannot reach the Dagster webserver at {args.url} ({exc}); start it with `make dev`", file=sys.stderr)
        return 3
    except DagsterGraphQLClientError as exc:
        # The client wraps a refused connection in an error whose text is the whole query.
        unreachable = str(exc).startswith("Exception occured during execution of query")
        reason = "cannot reach it; start it with `make dev`" if unreachable else str(exc).splitlines()[0]
        print(f"vidpipe: the Dagster webserver at {args.url}: {reason}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
