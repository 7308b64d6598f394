"""Projects and their scenes as Dagster partitions.

`projects` grows as briefs arrive; `scene_numbers` grows only as far as the longest storyboard
needs. Their cross product, `scenes`, has "phantom" cells for shorter projects: nothing waits on
them, because the storyboard says which scenes exist.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DagsterInstance, DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition

from vidpipe_dagster.domain import scene_key, validate_project_id

PROJECT_TAG = "vidpipe/project"

projects_partitions = DynamicPartitionsDefinition(name="projects")
scene_number_partitions = DynamicPartitionsDefinition(name="scene_numbers")
scenes_partitions = MultiPartitionsDefinition(
    {"project": projects_partitions, "scene": scene_number_partitions}
)


def scene_partition_key(project_id: str, scene: str) -> MultiPartitionKey:
    return MultiPartitionKey({"project": project_id, "scene": scene})


def register_project(instance: DagsterInstance, project_id: str) -> bool:
    """Add the project's partition; False when it already existed."""
    validate_project_id(project_id)
    if instance.has_dynamic_partition(projects_partitions.name, project_id):
        return False
    instance.add_dynamic_partitions(projects_partitions.name, [project_id])
    return True


def register_scene_numbers(instance: DagsterInstance, scene_count: int) -> None:
    """Grow the scene dimension to `scene_count` scenes (never shrinks: other projects use it)."""
    existing = set(instance.get_dynamic_partitions(scene_number_partitions.name))
    missing = [key for key in map(scene_key, range(1, scene_count + 1)) if key not in existing]
    if missing:
        instance.add_dynamic_partitions(scene_number_partitions.name, missing)


def project_of_run(tags: Mapping[str, str]) -> str | None:
    """The project a run works on: vidpipe's tag, else the project dimension of a scene run, else
    the partition of a project run (Dagster sets the partition tags however a run is launched)."""
    project = tags.get(PROJECT_TAG) or tags.get("dagster/partition/project")
    if project is None and "dagster/partition" in tags:
        # A multi-partition key reads "<project>|<scene>": dimensions are ordered by name.
        project = tags["dagster/partition"].partition("|")[0]
    return project
