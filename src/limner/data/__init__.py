"""AgentComp's data orchestra: verified positives, contrastive negatives made by editing them, distances, a
pair filter, and a Parquet dataset that `limner train apo --data DIR` reads (docs/data.md).

    from limner.data import ClusterJob, build_clusters, read_prompts, write_dataset
    job = ClusterJob.build(load_config("sandbox"), negatives=10)
    build_clusters(job, read_prompts(Path("prompts.txt")), Path("data/"), executor=make_executor(2))
    write_dataset(Path("data/"))
"""

from limner.data.dataset import MANIFEST, card, dataset_rows, difference_mask, write_dataset
from limner.data.distance import DistanceEstimate, estimate_distance
from limner.data.orchestra import (
    BuildSummary,
    ClusterJob,
    ClusterRecord,
    DataError,
    Member,
    build_clusters,
    cluster_key,
    load_records,
    run_cluster,
)
from limner.data.perturb import (
    KINDS,
    Edit,
    Perturbation,
    candidates,
    diff_targets,
    exact_failures,
    scene_distance,
)
from limner.data.prompts import PromptError, PromptItem, fully_read, read_prompts, write_prompts
from limner.eval.executor import make_executor

__all__ = [
    "KINDS", "MANIFEST", "BuildSummary", "ClusterJob", "ClusterRecord", "DataError", "DistanceEstimate", "Edit",
    "Member", "Perturbation", "PromptError", "PromptItem", "build_clusters", "candidates", "card",
    "cluster_key", "dataset_rows", "diff_targets", "difference_mask", "estimate_distance", "exact_failures",
    "fully_read", "load_records", "make_executor", "read_prompts", "run_cluster", "scene_distance",
    "write_dataset", "write_prompts",
]
