"""Retoucher benchmark (SIMULATED sandbox world): perception, reasoning and repair, per BENCHMARKS.md.

    python benchmarks/retouch.py --json --data runs/blemish --weights src/limner/resources/retouch   # full
    python benchmarks/retouch.py --json --quick                                                      # smoke

Parts (each figure in `metrics`):

- `saliency`: AUC-Judd, NSS, CC, KLD of the trained model on the dataset's held-out test split (every test
  image with a defect; `heldout_images` counts them, `heldout_images_total` counts the split).
  `saliency_prompt_blind`: the same model, the prompt replaced by the empty string (seen in training: 10 %
  prompt dropout); `prompt_gain`: the paired per-image AUC-Judd difference, its standard error and the
  shares of images where the prompt helps / hurts, and the paired NSS and CC differences
  (`nss_mean_diff`, `nss_se`, `cc_mean_diff`, `cc_se`). `saliency_classical`: local variance + Sobel edge
  energy, no learning. `by_requested`: the same three metric sets and the paired prompt gain, split into
  the test images whose prompt asks for a defect-like effect (`requested`, docs/retouch.md) and the rest.
  `requested_false_alarm`: on the requested effects' pixels (those no defect painted over), the share the
  map marks as salient (S > τ_s) and their mean S, with the prompt, prompt-blind, and classical (at the
  classical map's own τ, chosen on the same images' defect pixels by F1 — for scale only); beside it the
  share of the same images' defect pixels marked (what a flat "mark less" would also lose).
- `category_accuracy`: the region classifier on every ground-truth region of the test split (masks dilated
  by the reasoning step's 2 px, as at inference), with `category_base_rate` (the most frequent category's
  share: what always naming it scores) and per-category accuracy. `category_accuracy_detected`: on the
  regions found by thresholding the model's own map, against the category of the defect they overlap most.
  `regions`: recall of ground-truth regions by found regions, and the share of found regions that touch one.
- `repair`: on `--repair-images` fresh renders at 256 px (a seed and size never trained on) with at least
  one defect: `loop` (the agent's retouch stage: ≤ 3 rounds, verified repairs, routed by the `retouch`
  matrix, kept only when the prompt's verdict does not drop and nothing outside the repairs moved),
  `single_pass` (one inpaint of the whole thresholded, dilated map by `--single-tool`, no reasoning, no
  check) and `none`. `blemish_pixels_removed`: share of ground-truth blemish pixels back within the
  blemish's own change threshold (10/255 per channel) of the clean render; `pixels_damaged`: share of the
  other pixels moved by more than that; `verdict_kept`: share of images whose checker verdict on the prompt
  did not drop (score not lower; a pass stays a pass). The checker judges pixels only.
  `requested_pixels_kept`: on the images with a requested effect, the share of its pixels still within
  10/255 of the intended image (the loop must not "repair" what was asked for).
- `train_minutes` / `train_cpu_minutes`: from the weights' `metrics.json` (wall time depends on the machine's
  load; CPU time is this process's own).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image

from limner.agent.loop import Agent
from limner.config import load_config
from limner.data.blemish import (
    BlemishJob,
    Region,
    Requested,
    build_blemish_dataset,
    region_mask,
    render_item,
    requested_mask,
)
from limner.retouch import (
    OfflineReasoner,
    Perceiver,
    Retoucher,
    RetouchOptions,
    classical_saliency,
    find_regions,
    single_pass,
)
from limner.runs import MemoryStore
from limner.tools.classic import Cv2Inpaint
from limner.tools.registry import ToolRegistry
from limner.train.saliency import choose_threshold, load_split
from limner.train.saliency_metrics import auc_judd, cc, nss, saliency_metrics
from limner.train.saliency_regions import region_examples
from limner.types import EvaluationStep, RetouchStep

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "limner" / "resources" / "retouch"
CHANGE = 10  # the blemishes' own threshold: a pixel moved by more than this (0-255, any channel) is changed


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_data(args: argparse.Namespace, out: Path) -> Path:
    if args.data is not None:
        return Path(args.data)
    data = out / "blemish"
    n = 300 if args.quick else 7000
    log(f"building {n} images into {data} (resumable)")
    build_blemish_dataset(BlemishJob(n=n, seed=0), data)
    return data


def ensure_weights(args: argparse.Namespace, data: Path, out: Path) -> Path:
    if args.weights is not None:
        return Path(args.weights)
    if not args.quick and (SHIPPED / "model").is_dir():
        return SHIPPED
    from limner.train.saliency import SaliencyTrainer, finished_model  # noqa: PLC0415 - only when training here
    from limner.train.saliency_config import SaliencyConfig  # noqa: PLC0415
    from limner.train.saliency_regions import RegionTrainer  # noqa: PLC0415

    weights = out / "weights"
    extra = {"max_steps": 80, "eval_steps": 40, "save_steps": 40, "classifier_steps": 150} if args.quick else {}
    cfg = SaliencyConfig(data_dir=str(data), output_dir=str(weights), threads=args.threads, **extra)  # type: ignore[arg-type]
    if finished_model(cfg) is None:
        log(f"training the saliency model into {weights}")
        SaliencyTrainer(cfg).train()
    if not (weights / "regions").is_dir():
        log("training the region classifier")
        RegionTrainer(cfg).train()
    return weights


# -- perception ---------------------------------------------------------------------------------------


def _requested_masks(data: Path, n: int, size: int) -> list[np.ndarray]:
    """Per test image (load_split's order), the requested effects' pixels at the model's resolution."""
    table = pq.read_table(data / "test.parquet").slice(0, n)
    texts = table.column("requested").to_pylist() if "requested" in table.column_names else ["[]"] * table.num_rows
    out = []
    for text, mask in zip(texts, table.column("mask").to_pylist(), strict=True):
        defects = np.asarray(Image.open(io.BytesIO(mask["bytes"])).convert("L")) > 127
        req = requested_mask([Requested.model_validate(r) for r in json.loads(text or "[]")], defects)
        if req.shape != (size, size):
            req = np.asarray(Image.fromarray(req.astype(np.uint8) * 255).resize((size, size), Image.BOX)) > 127
        out.append(req)
    return out


def _gain(ours: list[np.ndarray], blind: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    """Paired per-image differences (prompt minus prompt-blind) of AUC-Judd, NSS and CC, with standard errors."""
    pairs = [(a, b, m) for a, b, m in zip(ours, blind, masks, strict=True) if m.any()]
    out: dict[str, float] = {"images": len(pairs)}
    for name, fn in (("auc_judd", auc_judd), ("nss", nss), ("cc", cc)):
        d = np.asarray([fn(a, m) - fn(b, m) for a, b, m in pairs])
        ok = len(d) >= 2
        out[f"{name}_mean_diff"] = float(d.mean()) if ok else float("nan")
        out[f"{name}_se" if name != "auc_judd" else "se"] = float(d.std(ddof=1) / np.sqrt(len(d))) if ok else float("nan")
        if name == "auc_judd":
            out["images_better"] = float((d > 0).mean()) if ok else float("nan")
            out["images_worse"] = float((d < 0).mean()) if ok else float("nan")
    return out


def _flagged(maps: list[np.ndarray], masks: list[np.ndarray], tau: float) -> tuple[float, float]:
    """Share of the masks' pixels with S > tau, and their mean S (pooled over images)."""
    vals = np.concatenate([s[m] for s, m in zip(maps, masks, strict=True)]) if masks else np.zeros(0)
    return (float((vals > tau).mean()), float(vals.mean())) if vals.size else (float("nan"), float("nan"))


def saliency_part(perceiver: Perceiver, data: Path, limit: int | None) -> dict[str, Any]:
    model = perceiver.model
    split = load_split(data, "test", model.config.image_size, limit)
    masks = [m > 0 for m in split.masks]
    req = _requested_masks(data, len(masks), model.config.image_size)
    with torch.no_grad():
        x_all = torch.from_numpy(split.images)
        ours, blind = [], []
        for i in range(0, len(x_all), 64):
            x = x_all[i:i + 64].float() / 255
            ours += list(torch.sigmoid(model(x, split.prompts[i:i + 64])).numpy())
            blind += list(torch.sigmoid(model(x, [""] * len(x))).numpy())
    classical = [classical_saliency(Image.fromarray(img.transpose(1, 2, 0))) for img in split.images]
    out = {name: saliency_metrics(maps, masks) for name, maps in
           (("saliency", ours), ("saliency_prompt_blind", blind), ("saliency_classical", classical))}
    # paired, per image: is the prompt worth anything beyond noise?
    out["prompt_gain"] = _gain(ours, blind, masks)
    # ... on the images whose prompt asks for a defect-like effect, and on the rest
    by: dict[str, Any] = {}
    for name, keep in (("with_requested", [r.any() for r in req]), ("without_requested", [not r.any() for r in req])):
        pick = [i for i, k in enumerate(keep) if k]
        sub = {arm: [maps[i] for i in pick] for arm, maps in (("ours", ours), ("blind", blind), ("classical", classical))}
        sub_masks = [masks[i] for i in pick]
        by[name] = {"images_total": len(pick), "prompt_gain": _gain(sub["ours"], sub["blind"], sub_masks)}
        if any(m.any() for m in sub_masks):
            for key, arm in (("saliency", "ours"), ("saliency_prompt_blind", "blind"), ("saliency_classical", "classical")):
                by[name][key] = saliency_metrics(sub[arm], sub_masks)
    out["by_requested"] = by
    # false alarms on what was asked for: requested pixels marked salient, with vs without the prompt
    pick = [i for i, r in enumerate(req) if r.any()]
    if pick:
        r_masks, d_masks = [req[i] for i in pick], [masks[i] for i in pick]
        tau_c, _ = choose_threshold([classical[i] for i in pick], d_masks)
        fa: dict[str, Any] = {"images": len(pick), "pixels": int(sum(m.sum() for m in r_masks)),
                              "threshold": perceiver.threshold, "classical_threshold": tau_c}
        for key, maps, tau in (("with_prompt", ours, perceiver.threshold), ("prompt_blind", blind, perceiver.threshold),
                               ("classical", classical, tau_c)):
            share, mean = _flagged([maps[i] for i in pick], r_masks, tau)
            d_share, _ = _flagged([maps[i] for i in pick], d_masks, tau)
            fa[key] = {"requested_pixels_flagged": share, "requested_mean_saliency": mean,
                       "defect_pixels_flagged": d_share}
        out["requested_false_alarm"] = fa
    heldout = out["saliency"].pop("images")
    for k in ("saliency_prompt_blind", "saliency_classical"):
        out[k].pop("images")
    for part in out["by_requested"].values():
        for k in ("saliency", "saliency_prompt_blind", "saliency_classical"):
            if k in part:
                part["images"] = part[k].pop("images")
    out["heldout_images"] = heldout
    out["heldout_images_total"] = len(masks)
    out["_maps"], out["_split"] = ours, split
    return out


def category_part(reasoner: OfflineReasoner, perceiver: Perceiver, data: Path, maps: list[np.ndarray],
                  split: Any, limit: int | None) -> dict[str, Any]:
    clf = reasoner.classifier
    crops, feats, cats = region_examples(data, "test", clf.crop_size, radius=(2, 2), limit=limit)
    index = {c: i for i, c in enumerate(clf.categories)}
    with torch.no_grad():
        pred = np.concatenate([clf(torch.from_numpy(crops[i:i + 256]).float() / 255, torch.from_numpy(feats[i:i + 256]))
                               .argmax(1).numpy() for i in range(0, len(cats), 256)]) if cats else np.zeros(0, int)
    truth = np.asarray([index.get(c, -1) for c in cats])
    counts = Counter(cats)
    per = {c: float((pred[truth == index[c]] == index[c]).mean()) for c in clf.categories if (truth == index[c]).any()}
    # on the regions the model itself finds (at the model's resolution, the map thresholded at τ_s)
    hit = total = found_n = found_touch = gt_n = gt_hit = 0
    size = perceiver.model.config.image_size
    for s_map, regions, img, full in zip(maps, split.regions, split.images, split.full_masks, strict=True):
        found = find_regions(s_map, perceiver.threshold, dilate=2)
        gts = [(r["category"], _region_at(Region.model_validate(r), full.shape, size)) for r in regions]
        gt_n += len(gts)
        gt_hit += sum(any((f.mask & g).any() for f in found) for _, g in gts)
        found_n += len(found)
        if not found:
            continue
        named = clf.classify(Image.fromarray(img.transpose(1, 2, 0)), [f.mask for f in found], "")
        for f, (cat, _) in zip(found, named, strict=True):
            overlaps = [((f.mask & g).sum(), c) for c, g in gts]
            best = max(overlaps, default=(0, None))
            if best[0] > 0:
                found_touch += 1
                total += 1
                hit += cat == best[1]
    return {"category_accuracy": float((pred == truth).mean()) if len(cats) else float("nan"),
            "category_base_rate": counts.most_common(1)[0][1] / len(cats) if cats else float("nan"),
            "category_regions": len(cats), "category_by_class": per,
            "category_accuracy_detected": hit / total if total else float("nan"),
            "regions": {"ground_truth": gt_n, "recall": gt_hit / max(1, gt_n), "found": found_n,
                        "precision": found_touch / max(1, found_n)}}


def _region_at(region: Region, shape: tuple[int, ...], size: int) -> np.ndarray:
    """A region's mask at the model's resolution (from the dataset's full-size RLE)."""
    full = region_mask(region, shape[1], shape[0])
    if full.shape == (size, size):
        return full
    return np.asarray(Image.fromarray(full.astype(np.uint8) * 255).resize((size, size), Image.BOX)) > 0


# -- repair ---------------------------------------------------------------------------------------------


def _pixels(final: Image.Image, clean: Image.Image, blemish: np.ndarray, before: Image.Image) -> tuple[float, float]:
    d = np.abs(np.asarray(final.convert("RGB"), np.int16) - np.asarray(clean.convert("RGB"), np.int16)).max(-1)
    removed = float((d[blemish] <= CHANGE).mean())
    moved = np.abs(np.asarray(final.convert("RGB"), np.int16) - np.asarray(before.convert("RGB"), np.int16)).max(-1)
    damaged = float((moved[~blemish] > CHANGE).mean())
    return removed, damaged


def _kept(before: Any, after: Any) -> bool:
    return after.score >= before.score - 1e-9 and (after.passed or not before.passed)


def repair_part(weights: Path, n: int, seed: int, single_tool: str) -> dict[str, Any]:
    cfg = load_config("sandbox")
    tools = ToolRegistry.from_config(cfg).by_name()
    tools["cv2-telea"] = Cv2Inpaint("cv2-telea")
    perceiver = Perceiver.load(weights)
    retoucher = Retoucher(perceiver, OfflineReasoner.load(weights),
                          {k: t for k, t in tools.items() if t.kind in ("inpaint", "edit")},
                          options=RetouchOptions(rounds=3, seed=seed))
    agent = Agent(cfg, tools=tools, retoucher=retoucher)
    job = BlemishJob(n=10**7, size=256, seed=seed + 1000)
    arms: dict[str, dict[str, list[float]]] = {a: {"removed": [], "damaged": [], "kept": [], "asked": []}
                                               for a in ("loop", "single_pass", "none")}
    changed, rounds, tried, kept_repairs, t_loop, t_single = 0, Counter(), 0, 0, 0.0, 0.0
    index = 0
    while len(arms["none"]["kept"]) < n:
        item = render_item(job, index)
        index += 1
        if not item.regions:
            continue
        blemish = np.zeros((job.size, job.size), bool)
        for r in item.regions:
            blemish |= region_mask(r, job.size, job.size)
        asked = requested_mask(item.requested, blemish)
        store = MemoryStore()
        t0 = time.perf_counter()
        steps = list(agent.retouch(item.image, item.prompt, store=store))
        t_loop += time.perf_counter() - t0
        evals = [s for s in steps if isinstance(s, EvaluationStep)]
        keep = next(s for s in steps if isinstance(s, RetouchStep) and s.stage == "keep")
        final_img = store.load_image(steps[-1].image_path)
        v_in = evals[0].verdict
        v_loop = evals[-1].verdict if keep.kept else v_in
        changed += bool(keep.kept)
        rounds[max((s.round for s in steps if isinstance(s, RetouchStep)), default=1)] += 1
        reps = [s for s in steps if isinstance(s, RetouchStep) and s.stage == "repair"]
        tried += len(reps)
        kept_repairs += sum(bool(s.kept) for s in reps)
        t0 = time.perf_counter()
        single = single_pass(perceiver, tools[single_tool], item.image, item.prompt)
        t_single += time.perf_counter() - t0
        v_single = agent.evaluator(single, agent.analyst(item.prompt).scene).verdict
        for arm, img, verdict in (("loop", final_img, v_loop), ("single_pass", single, v_single),
                                  ("none", item.image, v_in)):
            removed, damaged = _pixels(img, item.clean, blemish, item.image)
            arms[arm]["removed"].append(removed)
            arms[arm]["damaged"].append(damaged)
            arms[arm]["kept"].append(float(_kept(v_in, verdict)))
            if asked.any():
                d = np.abs(np.asarray(img.convert("RGB"), np.int16) - np.asarray(item.clean.convert("RGB"), np.int16)).max(-1)
                arms[arm]["asked"].append(float((d[asked] <= CHANGE).mean()))
        done = len(arms["none"]["kept"])
        if done % 10 == 0:
            log(f"repair {done}/{n}: loop removed {np.mean(arms['loop']['removed']):.3f}, "
                f"single {np.mean(arms['single_pass']['removed']):.3f}")
    repair = {arm: {"blemish_pixels_removed": float(np.mean(v["removed"])), "pixels_damaged": float(np.mean(v["damaged"])),
                    "verdict_kept": float(np.mean(v["kept"])),
                    "requested_pixels_kept": float(np.mean(v["asked"])) if v["asked"] else float("nan")}
              for arm, v in arms.items()}
    return {"repair": repair,
            "repair_detail": {"images": n, "images_with_requested": len(arms["none"]["asked"]), "size": job.size, "seed": job.seed, "single_tool": single_tool,
                              "loop_kept_retouched": changed / n, "rounds": dict(sorted(rounds.items())),
                              "repairs_tried_per_image": tried / n, "repairs_kept_per_image": kept_repairs / n,
                              "loop_s_per_image": t_loop / n, "single_pass_s_per_image": t_single / n},
            "retouch_matrix": {"dims": retoucher.router.matrix.dims, "tools": retoucher.router.matrix.tools,
                               "values": np.round(retoucher.router.matrix.values, 4).tolist()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small data, a short training, few repairs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench-retouch"))
    p.add_argument("--data", type=Path, default=None, help="a `limner data blemish` folder (default: build one)")
    p.add_argument("--weights", type=Path, default=None, help="a `limner train saliency` folder")
    p.add_argument("--repair-images", type=int, default=None, help="images for the repair part (full 100, quick 4)")
    p.add_argument("--single-tool", default="heath", help="the inpainter of the single-pass baseline")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parts", default="saliency,category,repair", help="comma-separated parts to run")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = ensure_data(args, args.out)
    weights = ensure_weights(args, data, args.out)
    perceiver = Perceiver.load(weights, threads=args.threads)
    limit = 100 if args.quick else None
    parts = set(args.parts.split(","))
    sal: dict[str, Any] = {}
    cat: dict[str, Any] = {}
    rep: dict[str, Any] = {}
    if parts & {"saliency", "category"}:
        log("saliency on the test split")
        sal = saliency_part(perceiver, data, limit)
        maps, split = sal.pop("_maps"), sal.pop("_split")
        if "saliency" not in parts:
            sal = {}
        if "category" in parts:
            log("categories")
            cat = category_part(OfflineReasoner.load(weights), perceiver, data, maps, split, limit)
    n_repair = args.repair_images or (4 if args.quick else 100)
    if "repair" in parts:
        log(f"repair on {n_repair} images")
        rep = repair_part(weights, n_repair, args.seed, args.single_tool)
    trained = json.loads((weights / "metrics.json").read_text()) if (weights / "metrics.json").is_file() else {}
    reg = json.loads((weights / "regions_metrics.json").read_text()) if (weights / "regions_metrics.json").is_file() else {}
    s = trained.get("saliency", {})
    metrics = {**sal, **cat, **rep,
               "train_minutes": s.get("train_minutes"), "train_cpu_minutes": s.get("train_cpu_minutes"),
               "classifier_train_minutes": reg.get("train_minutes"), "threshold": perceiver.threshold}
    result = {
        "benchmark": "retouch", "simulated": True,
        "config": {"quick": args.quick, "seed": args.seed, "data": str(data), "weights": str(weights),
                   "threads": args.threads, "repair_images": n_repair, "single_tool": args.single_tool,
                   "parts": sorted(parts),
                   "model": perceiver.model.config.to_dict(),
                   "parameters": sum(p.numel() for p in perceiver.model.parameters()),
                   "train_config": trained.get("config")},
        "env": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                "cpu_count": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "metrics": metrics,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "artifacts": [],
    }
    buf = io.StringIO()
    json.dump(result, buf, default=float)
    (args.out / "retouch.json").write_text(buf.getvalue() + "\n")
    result["artifacts"].append(str(args.out / "retouch.json"))
    if args.json:
        print(json.dumps(result, default=float))
    elif parts == {"saliency", "category", "repair"}:
        m = metrics
        print(f"saliency AUC-Judd {m['saliency']['auc_judd']:.3f} (prompt-blind {m['saliency_prompt_blind']['auc_judd']:.3f}, "
              f"classical {m['saliency_classical']['auc_judd']:.3f}) on {m['heldout_images']} images; categories "
              f"{m['category_accuracy']:.3f} (base rate {m['category_base_rate']:.3f}); repair removed "
              + ", ".join(f"{a} {v['blemish_pixels_removed']:.3f}" for a, v in m["repair"].items()) + " (SIMULATED)")


if __name__ == "__main__":
    main()
