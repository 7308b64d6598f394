"""The `vidpipe` command."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import urllib.error
import uuid
from importlib import metadata as package_metadata
from importlib import resources as package_files
from pathlib import Path

from vidpipe_dagster.domain import InvalidInput, scene_key, validate_project_id

SAMPLE_BRIEF = "lighthouse.json"


def prepare_dagster_home() -> Path:
    """Use DAGSTER_HOME when the user set one; otherwise vidpipe's embedded instance under
    VIDPIPE_HOME, whose dagster.yaml vidpipe owns and refreshes."""
    from vidpipe_dagster.resources import vidpipe_home

    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    from vidpipe_dagster.embedded_instance import write_embedded_dagster_yaml

    home = write_embedded_dagster_yaml(vidpipe_home() / "dagster_home")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _demo(args: argparse.Namespace) -> int:
    import warnings

    from dagster import DagsterInstance, PreviewWarning

    if not args.verbose:
        warnings.filterwarnings("ignore", category=PreviewWarning)
    from vidpipe_dagster.definitions import defs
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import decode_brief, submit_brief
    from vidpipe_dagster.resources import resource_from_environment

    prepare_dagster_home()
    if args.brief:
        if Path(args.brief).is_dir():
            raise InvalidInput(f"{args.brief} is a folder; give the brief's JSON file")
        raw, base_dir = Path(args.brief).read_bytes(), Path(args.brief).resolve().parent
    else:
        raw, base_dir = package_files.files("vidpipe_dagster").joinpath(f"samples/{SAMPLE_BRIEF}").read_bytes(), None
    # The demo's brief is checked as intake checks any brief: size, UTF-8, every field named.
    brief = decode_brief(raw, resource_from_environment("inbox").limits())
    instance = DagsterInstance.get()
    if instance.has_dynamic_partition("projects", brief.project_id):
        # A demo is meant to be run again and again; a real submission keeps its id or is refused.
        fresh = f"{brief.project_id[:54]}-{uuid.uuid4().hex[:8]}"
        print(f"project {brief.project_id} exists; running this demo as {fresh}")
        brief = brief.model_copy(update={"project_id": fresh})
    store = resource_from_environment("blob_store").open()
    submit_brief(instance, store, brief.model_dump(mode="json"), base_dir=base_dir)
    print(f"project {brief.project_id}: submitted ({instance.root_directory})")
    final = run_project(
        defs, instance, store, brief.project_id, progress=lambda line: print(f"  {line}", flush=True),
        log_level="DEBUG" if args.verbose else "WARNING", previews=True,
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    destination = store.get_file(final.objects["final.mp4"].key, out_dir / f"{brief.project_id}.mp4")
    store.get_file(final.objects["contact_sheet.png"].key, out_dir / f"{brief.project_id}-contact-sheet.png")
    print(f"stored:     {final.objects['final.mp4'].uri}")
    print(f"review:     vidpipe review {brief.project_id}")
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
    from vidpipe_dagster.resources import resource_from_environment

    inbox = resource_from_environment("inbox")
    brief, where = deliver_brief(Path(args.brief), inbox.open(), inbox.limits())
    print(f"project {brief.project_id}: brief dropped into {where}; the inbox sensor starts it")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from vidpipe_dagster.garbage import GC_GRACE_SECONDS, collect_garbage
    from vidpipe_dagster.resources import resource_from_environment

    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        grace_seconds = GC_GRACE_SECONDS if args.grace_seconds is None else args.grace_seconds
        report = collect_garbage(instance, resource_from_environment("ledger"), resource_from_environment("blob_store").open(), grace_seconds)
    print("\n".join(report.lines()))
    return 0


def _existing_project(project: str):
    """The project's blob store, once the project is known to exist; nothing is created on the way."""
    from vidpipe_dagster.intake import brief_key
    from vidpipe_dagster.resources import locate_home, resource_from_environment
    from vidpipe_dagster.resources.storage import ObjectMissing

    validate_project_id(project)
    home, how = locate_home()
    if not os.environ.get("VIDPIPE_DATABASE_URL") and not (home / "vidpipe.db").is_file():
        raise InvalidInput(f"no vidpipe home with projects at {home} ({how})")
    store = resource_from_environment("blob_store").open()
    try:
        store.get_bytes(brief_key(project))
    except ObjectMissing:
        raise InvalidInput(f"project {project!r} does not exist in {home} ({how})") from None
    return store


def _storyboard(store, ledger, project: str):
    """The project's accepted storyboard, or None before there is one."""
    from vidpipe_dagster.artifacts import read_manifest
    from vidpipe_dagster.domain import Storyboard
    from vidpipe_dagster.resources.ledger import AttemptStatus

    boards = [r for r in ledger.attempts("storyboard", project) if r.status == AttemptStatus.ACCEPTED]
    return Storyboard.model_validate(read_manifest(store, "storyboard", project, boards[-1].attempt).data) if boards else None


def _status(args: argparse.Namespace) -> int:
    from vidpipe_dagster.artifacts import read_manifest
    from vidpipe_dagster.remote import Remote
    from vidpipe_dagster.resources import locate_home, resource_from_environment
    from vidpipe_dagster.resources.ledger import AttemptStatus
    from vidpipe_dagster.status import format_costs, format_table, scene_statuses

    store = _existing_project(args.project)
    home, how = locate_home()
    print(f"vidpipe home: {home} ({how})")
    ledger, controls = resource_from_environment("ledger"), resource_from_environment("controls")
    attention = controls.attention(args.project)
    if attention is not None:
        print(f"needs attention: {attention.describe()}")
    board = _storyboard(store, ledger, args.project)
    if board is None:
        print(f"project {args.project}: submitted, no storyboard yet")
        return 0
    print(f"project {args.project}: '{board.metadata.title}', {len(board.scenes)} scenes, {board.total_duration_s} s")
    print(format_table(scene_statuses(board.scene_keys, ledger.attempts("scene_clip", partition_prefix=f"{args.project}|"))))
    for scene, reason in sorted(controls.skipped(args.project).items()):
        print(f"scene {scene}: skipped ({reason})")
    cuts = [r for r in ledger.attempts("final_video", args.project) if r.status == AttemptStatus.ACCEPTED]
    if cuts:
        cut = read_manifest(store, "final_video", args.project, max(cuts, key=lambda r: r.updated_at).attempt)
        print(f"final cut: attempt {cut.attempt}, {cut.objects['final.mp4'].uri}")
        print(f"review:    vidpipe review {args.project}")
    else:
        print("final cut: not yet")
    print(format_costs(resource_from_environment("paid_calls").totals(args.project)))
    try:
        runs = Remote(args.url).project_runs(args.project)
    except OSError:
        print(f"(no webserver at {args.url}: in-flight runs not shown)")
        return 0
    for run in runs:
        print(f"run {run.run_id[:8]} {run.status.lower():<9} {run.job} {run.partition}")
    return 0


def _review(args: argparse.Namespace) -> int:
    import time

    from vidpipe_dagster.resources import resource_from_environment
    from vidpipe_dagster.review.server import latest_cut, review_server

    store = _existing_project(args.project)
    ledger, controls = resource_from_environment("ledger"), resource_from_environment("controls")
    cut = latest_cut(ledger, store, args.project)

    def attention() -> str | None:
        found = controls.attention(args.project)
        return found.describe() if found else None

    with review_server(store, cut, attention, port=args.port) as url:
        print(f"project {args.project}: {cut.asset} attempt {cut.attempt} at {url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _skip(args: argparse.Namespace) -> int:
    from vidpipe_dagster.resources import resource_from_environment

    store = _existing_project(args.project)
    key = scene_key(args.scene)
    if not args.undo and not args.reason.strip():
        raise InvalidInput("--reason: say why the scene is skipped")
    board = _storyboard(store, resource_from_environment("ledger"), args.project)
    if board is not None and not args.undo:
        board.scene(key)  # refuses a scene past the end of the storyboard
    controls = resource_from_environment("controls")
    if args.undo:
        controls.unskip_scene(args.project, key)
        print(f"project {args.project}: scene {key} is back in; the sequencer makes it and the next cut holds it")
    else:
        controls.skip_scene(args.project, key, args.reason.strip())
        print(f"project {args.project}: scene {key} skipped ({args.reason.strip()}); the cut leaves it out")
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
    from vidpipe_dagster.resources import resource_from_environment

    validate_project_id(args.project)
    remote = Remote(args.url)
    # Reach the webserver before pausing anything: a stop that cannot terminate changes nothing.
    runs = remote.project_runs(args.project)
    resource_from_environment("controls").set_paused(args.project, True)
    remote.terminate([run.run_id for run in runs])
    print(f"project {args.project}: stopped; {len(runs)} run(s) terminated. `vidpipe resume {args.project}` carries on")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from vidpipe_dagster.resources import resource_from_environment

    _existing_project(args.project)
    resource_from_environment("controls").set_paused(args.project, False)
    print(f"project {args.project}: resumed; the sequencer picks it up on its next tick")
    return 0


def _budget(args: argparse.Namespace) -> int:
    from vidpipe_dagster.resources import resource_from_environment

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


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    # --url and --debug are accepted before or after the subcommand; the subcommands' own copies
    # have no default, so they override the main parser's only when given.
    def shared_options(into: argparse.ArgumentParser, url: str, debug: bool) -> None:
        into.add_argument("--url", default=url, help="the Dagster webserver (env VIDPIPE_DAGSTER_URL, default http://127.0.0.1:3000)")
        into.add_argument("--debug", action="store_true", default=debug, help="show the traceback of an unexpected error")

    parser = _Parser(prog="vidpipe", description="Turn a creative brief into a finished video.")
    shared_options(parser, os.environ.get("VIDPIPE_DAGSTER_URL", "http://127.0.0.1:3000"), False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_metadata.version('vidpipe-dagster')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        shared_options(sub, argparse.SUPPRESS, argparse.SUPPRESS)
        sub.set_defaults(handler=handler)
        return sub

    def project_command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = command(name, handler, help_text)
        sub.add_argument("project", help="the project id (its partition name)")
        return sub

    def scene_argument(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("scene", type=int, help="the scene number, 1 for the first")

    demo = command("demo", _demo, "run the whole pipeline in this process on the embedded instance")
    demo.add_argument("--brief", help="a brief JSON file (default: the bundled lighthouse sample)")
    demo.add_argument("--out", default="out", help="folder to copy the final MP4 and contact sheet to")
    demo.add_argument("--verbose", action="store_true", help="show Dagster's own log lines too")
    dev = command("dev", _dev, "open the Dagster UI (dagster dev) on the embedded instance")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on")
    dev.add_argument("--port", type=int, default=3000, help="port to listen on")
    command("submit", _submit, "drop a brief into the inbox").add_argument("brief", help="the brief, a JSON file")
    project_command("status", _status, "per-scene attempts, scores and state of a project")
    review = project_command("review", _review, "serve the project's review page (player, scene timeline, attempts) on 127.0.0.1")
    review.add_argument("--port", type=int, default=0, help="port to serve on (default: any free one)")
    regenerate = project_command("regenerate", _regenerate, "generate a scene again (later scenes follow per the brief)")
    scene_argument(regenerate)
    regenerate.add_argument("--prompt", help="extra direction added to the scene's description, for its keyframes and clip")
    regenerate.add_argument("--force", action="store_true", help="accept the first attempt whatever its quality")
    accept = project_command("accept", _accept, "make an earlier attempt of a scene's clip the accepted one")
    scene_argument(accept)
    accept.add_argument("attempt", type=int, help="the attempt number to accept")
    skip = project_command("skip", _skip, "leave a scene out of the cut; the next scene opens on the last kept one")
    scene_argument(skip)
    skip.add_argument("--reason", default="", help="why (shown in status, the review page and the cut's metadata)")
    skip.add_argument("--undo", action="store_true", help="put a skipped scene back in")
    backfill = project_command("backfill", _backfill, "regenerate a range of scenes as a backfill")
    backfill.add_argument("--scenes", required=True, help="N or N-M, e.g. 2-4")
    project_command("stop", _stop, "stop a project: terminate its runs and pause sequencing")
    project_command("resume", _resume, "let the sequencer carry on with a stopped project")
    budget = project_command("budget", _budget, "show a project's budget, spent and reserved; or set it")
    limit = budget.add_mutually_exclusive_group()
    limit.add_argument("--set", type=_usd, metavar="USD", help="the most the project's model calls may cost")
    limit.add_argument("--unlimited", action="store_true", help="no limit")
    command("ui", _ui, "print the URL of the asset graph in the Dagster UI")
    gc = command("gc", _gc, "abandon attempts whose run died unpublished; remove abandoned objects older than the grace period")
    gc.add_argument(
        "--grace-seconds", type=int,
        help="leave objects of attempts younger than this (env VIDPIPE_GC_GRACE_SECONDS, default a day)",
    )
    command("pools", _pools, "apply VIDPIPE_*_MODEL_SLOTS to the instance and show each model pool's limit")
    return parser


def _graphql_client_error() -> type[Exception] | tuple[()]:
    """The webserver client's error, when a command loaded the client (the `Remote` ones do); else
    nothing to catch. Called only when an error reaches the `except`, so `--help` and the commands
    that never talk to the webserver do not load the GraphQL client (about a second)."""
    client = sys.modules.get("dagster_graphql")
    return client.DagsterGraphQLClientError if client else ()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (InvalidInput, FileNotFoundError, IsADirectoryError) as exc:
        print(f"vidpipe: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, urllib.error.URLError) as exc:
        print(f"vidpipe: cannot reach the Dagster webserver at {args.url} ({exc}); start it with `make dev`", file=sys.stderr)
        return 3
    except _graphql_client_error() as exc:
        # The client wraps a refused connection in an error whose text is the whole query.
        unreachable = str(exc).startswith("Exception occured during execution of query")
        reason = "cannot reach it; start it with `make dev`" if unreachable else str(exc).splitlines()[0]
        print(f"vidpipe: the Dagster webserver at {args.url}: {reason}", file=sys.stderr)
        return 3
    except Exception as exc:
        if args.debug:
            raise
        print(f"vidpipe: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (--debug shows the traceback)", file=sys.stderr)
        # Free the failed frames (and the connections they hold) now, not during interpreter
        # shutdown, when their finalizers would print tracebacks of their own.
        exc.__traceback__ = None
        return 1


if __name__ == "__main__":
    sys.exit(main())
