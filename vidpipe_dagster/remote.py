"""Talking to a running Dagster webserver: what the CLI does to projects from a terminal.

Launches go through `DagsterGraphQLClient`; the two things it has no method for (backfills and
listing a project's runs) are plain GraphQL documents sent to the same endpoint.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from dagster_graphql import DagsterGraphQLClient

from vidpipe_dagster.domain import InvalidInput, scene_key, validate_project_id
from vidpipe_dagster.jobs import scene_job
from vidpipe_dagster.partitions import PROJECT_TAG, scene_partition_key

LOCATION = "vidpipe"

_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}"""

_PROJECT_RUNS = """
query ProjectRuns($tag: String!) {
  runsOrError(filter: {tags: [{key: "vidpipe/project", value: $tag}], statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
    __typename
    ... on Runs { results { runId status jobName tags { key value } } }
    ... on PythonError { message }
  }
}"""


class RemoteError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    job: str
    partition: str


def parse_scene_range(text: str) -> list[str]:
    """`2-4` -> ["002", "003", "004"]; `3` -> ["003"]."""
    first, _, last = text.partition("-")
    try:
        start, end = int(first), int(last or first)
    except ValueError:
        raise InvalidInput(f"scene range {text!r}: use N or N-M, like 2-4") from None
    if end < start:
        raise InvalidInput(f"scene range {text!r} runs backwards")
    return [scene_key(number) for number in range(start, end + 1)]


class Remote:
    def __init__(self, url: str):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise InvalidInput(f"webserver URL {url!r}: expected http://host:port")
        self.url = url.rstrip("/")
        self.client = DagsterGraphQLClient(parsed.hostname, port_number=parsed.port, use_https=parsed.scheme == "https")

    def _graphql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": document, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RemoteError("; ".join(error["message"] for error in answer["errors"]))
        return answer["data"]

    def run_scene(
        self,
        project: str,
        scene: str,
        *,
        clip_config: dict[str, Any] | None = None,
        keyframes_config: dict[str, Any] | None = None,
        assets: list[str] | None = None,
    ) -> str:
        """Launch the scene job for one scene (through the run queue, like a launch from the UI)."""
        validate_project_id(project)
        partition = scene_partition_key(project, scene)
        tags = {
            "dagster/partition": str(partition),
            "dagster/partition/project": project,
            "dagster/partition/scene": scene,
            PROJECT_TAG: project,
        }
        ops = {name: {"config": config} for name, config in (("scene_keyframes", keyframes_config), ("scene_clip", clip_config)) if config}
        run_config = {"ops": ops} if ops else {}
        return self.client.submit_job_execution(
            scene_job.name, repository_location_name=LOCATION, run_config=run_config, tags=tags, asset_selection=assets
        )

    def backfill(self, project: str, scenes: list[str]) -> str:
        """A backfill of the scene partitions; the run queue keeps it to one run of the project at a time."""
        validate_project_id(project)
        params = {
            "assetSelection": [{"path": ["scene_keyframes"]}, {"path": ["scene_clip"]}],
            "partitionNames": [str(scene_partition_key(project, scene)) for scene in scenes],
            "tags": [{"key": PROJECT_TAG, "value": project}],
        }
        result = self._graphql(_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RemoteError(f"the backfill was refused: {result.get('message') or result['__typename']}")
        return result["backfillId"]

    def project_runs(self, project: str) -> list[RunSummary]:
        result = self._graphql(_PROJECT_RUNS, {"tag": project})["runsOrError"]
        if result["__typename"] != "Runs":
            raise RemoteError(result.get("message", result["__typename"]))
        return [
            RunSummary(
                run_id=run["runId"],
                status=run["status"],
                job=run["jobName"],
                partition=next((tag["value"] for tag in run["tags"] if tag["key"] == "dagster/partition"), ""),
            )
            for run in result["results"]
        ]

    def terminate(self, run_ids: list[str]) -> None:
        if run_ids:
            self.client.terminate_runs(run_ids)
