"""The run coordinator is all the webserver and daemon load of vidpipe: it must import nothing
else of it, or their slim image (deploy/Dockerfile.dagster) fails at start-up."""

import subprocess
import sys

from vidpipe_dagster.run_coordinator import PROJECT_TAG, project_of_run


def test_the_coordinator_imports_only_dagster() -> None:
    probe = "import sys, vidpipe_dagster.run_coordinator; print(sorted(m for m in sys.modules if m.startswith('vidpipe')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert loaded.strip() == "['vidpipe_dagster', 'vidpipe_dagster.run_coordinator']"


def test_a_runs_project_comes_from_its_tag_or_its_partition() -> None:
    assert project_of_run({PROJECT_TAG: "kites"}) == "kites"
    assert project_of_run({"dagster/partition/project": "kites", "dagster/partition": "kites|002"}) == "kites"
    assert project_of_run({"dagster/partition": "kites|002"}) == "kites"
    assert project_of_run({"dagster/partition": "kites"}) == "kites"
    assert project_of_run({}) is None
