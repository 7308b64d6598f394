"""Projects and their scenes as Dagster partitions.

`projects` grows as briefs arrive; `scene_numbers` grows only as far as the longest storyboard
needs. Their cross product, `scenes`, has "phantom" cells for shorter projects: nothing waits on
them, because the storyboard says which scenes exist.
"""

from __future__ import annotations

from dagster import DagsterInstance, DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition

from vidpipe_dagster.domain import scene_key, validate_project_id

# Re-exported: the run queue's tag and how a run's project is read live with the run coordinator,
# which the webserver and daemon import without the rest of vidpipe.
from vidpipe_dagster.run_coordinator import PROJECT_TAG, project_of_run  # noqa: F401

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
