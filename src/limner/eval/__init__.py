"""Evaluation harness: GenEval and T2I-CompBench runs in the benchmarks' own layouts, with their protocol.

    from limner.eval import GenEvalSuite, EvalJob, run_eval, load_run, write_report, make_executor
    suite = GenEvalSuite(Path("metadata.jsonl"))
    job = EvalJob.build(suite, load_config("sandbox"), images_per_prompt=4, generator="alder")
    run_eval(job, suite, Path("out/alder"), executor=make_executor(2))
    write_report(load_run([Path("out/alder")]))

See docs/eval.md.
"""

from limner.eval.executor import Executor, ExecutorError, LocalExecutor, RayExecutor, make_executor
from limner.eval.protocol import EvalProtocol, Shard, protocol_differences
from limner.eval.report import EvalRun, compare_runs, load_run, published_rows, score_records, write_report
from limner.eval.runner import EvalError, EvalJob, EvalSummary, ItemRecord, load_records, run_eval
from limner.eval.suites import (
    COMPBENCH_CATEGORIES,
    GENEVAL_TAGS,
    CompBenchSuite,
    EvalPrompt,
    GenEvalSuite,
    SuiteError,
    scene_from_geneval,
)

__all__ = [
    "COMPBENCH_CATEGORIES",
    "GENEVAL_TAGS",
    "CompBenchSuite",
    "EvalError",
    "EvalJob",
    "EvalPrompt",
    "EvalProtocol",
    "EvalRun",
    "EvalSummary",
    "Executor",
    "ExecutorError",
    "GenEvalSuite",
    "ItemRecord",
    "LocalExecutor",
    "RayExecutor",
    "Shard",
    "SuiteError",
    "compare_runs",
    "load_records",
    "load_run",
    "make_executor",
    "protocol_differences",
    "published_rows",
    "run_eval",
    "scene_from_geneval",
    "score_records",
    "write_report",
]
