"""Tools as services and agent runs at scale.

- `limner.serve.app`: one tool over HTTP (FastAPI + uvicorn; `limner serve TOOL`), with readiness, a bounded
  queue (429 + Retry-After), request time-outs and an optional bearer token. The client is the `remote` tool
  backend (`limner.tools.remote`), which also holds the wire format.
- `limner.serve.ray`: the same tools as Ray Serve deployments (replicas, GPUs per replica, autoscaling).
- `limner.serve.batch`: the agent over many prompts, fanned out through `limner.eval.executor` (local
  processes or Ray tasks).
- `limner.serve.testing`: a sleep-bound sandbox painter for tests and benchmarks (simulated).

FastAPI, uvicorn and Ray Serve are the `serve` extra (`pip install 'limner[serve]'`); nothing here imports
them until a server is started. See docs/serve.md.
"""

from __future__ import annotations

from limner.serve.batch import BatchResult, run_batch

__all__ = ["BatchResult", "run_batch"]  # the servers: limner.serve.app, limner.serve.ray (they need the extra)
