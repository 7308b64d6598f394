"""The run coordinator is all the webserver and daemon load of vidpipe: it must import nothing
else of it, or their slim image (deploy/Dockerfile.dagster) fails at start-up."""

import subprocess
import sys

import pytest

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


def test_the_queue_can_be_looked_at_every_half_second_and_a_zero_interval_is_refused(tmp_path) -> None:
    from dagster import DagsterInstance
    from dagster._core.errors import DagsterInvalidConfigError

    from vidpipe_dagster.embedded_instance import write_embedded_dagster_yaml

    home = write_embedded_dagster_yaml(tmp_path / "home")
    with DagsterInstance.from_config(str(home)) as instance:
        # The daemon reads this for its loop: Dagster's own coordinator would only take whole seconds.
        assert instance.run_coordinator.dequeue_interval_seconds == 0.5

    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text().replace("dequeue_interval_seconds: 0.5", "dequeue_interval_seconds: 0"))
    with pytest.raises(DagsterInvalidConfigError, match=r"dequeue_interval_seconds must be above 0 seconds, not 0"):
        DagsterInstance.from_config(str(home)).run_coordinator
