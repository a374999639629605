"""A GenBlemish-style dataset: sandbox images with local defects, their exact masks, categories, prompts.

Agentic Retoucher trains its perception model on GenBlemish-27K (T2I images, pixel masks of defect regions,
12 categories in 6 dimensions). The sandbox world makes the same kind of data for free and exactly: a random
scene is rendered from its prompt, `tools.sandbox.blemishes.add_random_blemishes` paints defects into it, and
the ground-truth mask of each defect is exactly the pixels it changed. Categories are the world's blemish
taxonomy, grouped into dimensions (`DIMENSIONS`) as the paper groups its categories; the retouch routing
matrix is over these dimensions.

Layout of a dataset folder (every file written atomically; re-running the same command resumes):

    DIR/job.json                 the settings (a resume with other settings is refused)
    DIR/shards/shard-00012.parquet  one finished unit of work (`shard_size` images), the resume point
    DIR/train.parquet, val.parquet, test.parquet   the splits (rewritten from the shards)
    DIR/card.json, card.md       counts per split, category and dimension

Columns: `id`, `split`, `prompt`, `image` and `mask` (HF `datasets` Image structs: {"bytes", "path"}; the
mask is an L PNG, 255 = defect), `width`, `height`, `regions` (JSON list of {category, dimension, box,
rle, description}; rle is row-major inside box, first run = off), `categories`, `dimensions`,
`n_regions`, `source` ("sandbox" or "external"), `requested` (JSON list of {category, dimension, phrase,
target, box, rle}: effects the prompt asked for, see below; "[]" for external data). Load with
`datasets.load_dataset("parquet", data_files={"train": "DIR/train.parquet", ...})`.

External data (`ingest_external`): a folder with `annotations.jsonl`, one image a line:
`{"image": "images/x.png", "prompt": "...", "regions": [{"mask": "masks/x-0.png", "category": "smear",
"description": "..."}], "split": "train"}` (paths relative to the folder; masks are images whose non-zero
pixels are the region; `split` optional, else assigned by the id's hash). Categories outside the taxonomy
are kept and get the dimension "other".

Requested effects (`BlemishJob.p_requested`): in real pictures, content that looks like a defect is sometimes
what was asked for ("a cup covered in scribbles", "a sign with melting letters"). In that share of images one
or two effects are painted onto an object with *the same pixel operation* as a defect category
(`REQUESTED_PHRASES`: the categories with a natural wording) and the prompt names them. They are not defects:
their pixels are 0 in `mask`, they are not `regions`, and the image's own defects never use a requested
category (the same effect unrequested still appears as a defect in other images), so only the prompt tells
the two apart. They are recorded in `requested` so benchmarks can measure false alarms on them.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

from limner.eval.executor import Executor, LocalExecutor
from limner.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from limner.tools.sandbox.blemishes import BLEMISH_KINDS, add_random_blemishes, paint_effect
from limner.tools.sandbox.render import render_scene
from limner.tools.sandbox.world import Blemish, BlemishKind, WorldTruth, random_scene, rle_decode, rle_encode

__all__ = [
    "CATEGORIES", "DIMENSIONS", "DIMENSION_OF", "REQUESTED_PHRASES", "SPLITS", "BlemishBuildSummary",
    "BlemishDataError", "BlemishItem", "BlemishJob", "Region", "Requested", "build_blemish_dataset",
    "ingest_external", "iter_split", "region_mask", "render_item", "requested_mask", "split_of", "write_splits",
]

#: Categories grouped into dimensions, as GenBlemish groups its 12 categories into 6. The grouping is by
#: what a repair has to restore: the shape of an object, its surface, a line, or rendered text.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "geometry": ("warped_shape", "missing_part", "duplicated_fragment"),
    "surface": ("smear", "noise_patch", "color_bleed"),
    "line": ("broken_outline", "stray_marks"),
    "text": ("melted_text",),
}
CATEGORIES: tuple[str, ...] = tuple(k for ks in DIMENSIONS.values() for k in ks)
DIMENSION_OF: dict[str, str] = {k: d for d, ks in DIMENSIONS.items() for k in ks}
assert set(CATEGORIES) == set(BLEMISH_KINDS)
SPLITS: tuple[str, ...] = ("train", "val", "test")
SHARDS = "shards"

#: Styles the builder sometimes asks for in the prompt: they change what "clean" looks like, which is
#: context the perception model can only get from the prompt.
_STYLES: tuple[str, ...] = ("sketch", "pixel art", "watercolor", "oil painting", "pop art")

#: Defect categories a prompt may ask for on purpose, with the words it uses (appended to the object's
#: name: "the cup covered in scribbles"). Only categories with a natural wording: nobody asks for a
#: "duplicated fragment". The pixels are painted by the category's own blemish function.
REQUESTED_PHRASES: dict[BlemishKind, tuple[str, ...]] = {
    "stray_marks": ("covered in scribbles", "with paint splatters", "with scribbles drawn on it"),
    "noise_patch": ("with a patch of static", "with a grainy glitched patch"),
    "smear": ("with a motion-blurred streak", "smudged by a wet brush"),
    "color_bleed": ("with its paint bleeding past the outline", "with colour running over its edge"),
    "broken_outline": ("drawn with a broken outline", "with gaps in its outline"),
    "melted_text": ("with melting letters", "with dripping melted text"),
}
assert set(REQUESTED_PHRASES) <= set(BLEMISH_KINDS)


class BlemishDataError(RuntimeError):
    """A dataset folder or external layout that cannot be used (other settings, bad annotations)."""


class BlemishJob(BaseModel):
    """What a build makes. Everything an image depends on is here, so a build is reproducible from it."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(ge=1, description="images to build")
    size: int = Field(128, ge=32, le=1024, description="image side in px")
    rate: float = Field(2.2, ge=0, description="Poisson mean of blemishes per image (at most 4)")
    p_text: float = Field(0.3, ge=0, le=1, description="share of scenes with a sign that carries text")
    p_style: float = Field(0.2, ge=0, le=1, description="share of prompts that ask for a style")
    p_requested: float = Field(0.3, ge=0, le=1, description="share of images whose prompt asks for a "
                               "defect-like effect (REQUESTED_PHRASES); not a defect, 0 in the mask")
    seed: int = 0
    splits: tuple[float, float, float] = (0.65, 0.05, 0.30)
    shard_size: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _splits_sum_to_one(self) -> BlemishJob:
        if abs(sum(self.splits) - 1) > 1e-6 or min(self.splits) < 0:
            raise ValueError(f"splits must be non-negative and sum to 1, got {self.splits}")
        return self

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


class Region(BaseModel):
    """One annotated defect region of an image."""

    category: str
    dimension: str
    box: tuple[int, int, int, int]
    rle: list[int]
    description: str = ""


class Requested(BaseModel):
    """An effect the prompt asked for, drawn like a defect category but not a defect (0 in the mask)."""

    category: str
    dimension: str
    phrase: str = Field(description="the words added to the prompt, e.g. 'the cup covered in scribbles'")
    target: str = Field(description="the object class (or 'sign') it was painted on")
    box: tuple[int, int, int, int]
    rle: list[int]


@dataclass
class BlemishItem:
    """One built image: the intended image (the render with its requested effects: what the prompt asked
    for), the blemished image, its truth, regions and requested effects (for benchmarks)."""

    index: int
    prompt: str
    clean: Image.Image
    image: Image.Image
    truth: WorldTruth
    regions: list[Region]
    requested: list[Requested]


def split_of(key: str, splits: tuple[float, float, float]) -> str:
    """A stable split from a key's hash: the same image lands in the same split on every resume."""
    u = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32
    return "train" if u < splits[0] else "val" if u < splits[0] + splits[1] else "test"


def _describe(b: Blemish, truth: WorldTruth) -> str:
    """The taxonomy's description, naming the object it sits on (largest box overlap) when there is one."""
    best, best_area = None, 0
    for o in truth.objects:
        ix = min(o.box.x1, b.box.x1) - max(o.box.x0, b.box.x0)
        iy = min(o.box.y1, b.box.y1) - max(o.box.y0, b.box.y0)
        if ix > 0 and iy > 0 and ix * iy > best_area:
            best, best_area = o, ix * iy
    where = " on the sign" if b.kind == "melted_text" else f" on the {best.cls}" if best is not None else ""
    return BLEMISH_KINDS[b.kind] + where


def _add_requested(image: Image.Image, truth: WorldTruth, p: float,
                   rng: np.random.Generator) -> tuple[Image.Image, list[Requested]]:
    """With probability `p`, paint one (or, a quarter of the time, two) requested effects, each of another
    category, onto random visible objects (melted letters onto a sign's text) and say so in a phrase."""
    if rng.random() >= p:
        return image, []
    objs = [o for o in truth.objects if o.visible > 0.3 and o.box.area > 0]
    kinds = [k for k in REQUESTED_PHRASES if (truth.texts if k == "melted_text" else objs)]
    if not kinds:
        return image, []
    n = min(len(kinds), 1 + int(rng.random() < 0.25))
    out: list[Requested] = []
    for kind in [kinds[int(i)] for i in rng.choice(len(kinds), size=n, replace=False)]:
        words = REQUESTED_PHRASES[kind][int(rng.integers(len(REQUESTED_PHRASES[kind])))]
        if kind == "melted_text":
            target, name = truth.texts[int(rng.integers(len(truth.texts)))].box, "sign"
            phrase = f"the sign {words}"
        else:
            obj = objs[int(rng.integers(len(objs)))]
            target, name = obj.box, obj.cls
            many = sum(o.cls == obj.cls for o in truth.objects) > 1
            phrase = f"{'one' if many else 'the'} {obj.cls} {words}"
        painted = paint_effect(image, truth, kind, rng, target)
        if painted is None:
            continue
        image, box, changed = painted
        out.append(Requested(category=kind, dimension=DIMENSION_OF[kind], phrase=phrase, target=name,
                             box=(box.x0, box.y0, box.x1, box.y1), rle=rle_encode(changed)))
    return image, out


def render_item(job: BlemishJob, index: int) -> BlemishItem:
    """Image `index` of the build, deterministically from (job.seed, index).

    Requested effects draw from their own random stream, so with `p_requested=0` every image is the one
    a build without them made."""
    rng = np.random.default_rng([job.seed, index, 27])
    scene = random_scene(rng, max_kinds=3, max_count=4, p_text=job.p_text, p_texture=0.2)
    if rng.random() < job.p_style:
        style = str(rng.choice(_STYLES))
        scene = scene.model_copy(update={"style": style, "prompt": f"{scene.prompt}, in {style} style"})
    clean, truth = render_scene(scene, seed=job.seed * 1_000_003 + index, width=job.size, height=job.size)
    clean, requested = _add_requested(clean, truth, job.p_requested, np.random.default_rng([job.seed, index, 28]))
    prompt = ", ".join([scene.prompt, *(r.phrase for r in requested)])
    image = add_random_blemishes(clean, truth, job.rate, rng,
                                 exclude=tuple(r.category for r in requested))  # type: ignore[arg-type]
    regions = [Region(category=b.kind, dimension=DIMENSION_OF[b.kind], box=(b.box.x0, b.box.y0, b.box.x1, b.box.y1),
                      rle=b.rle, description=_describe(b, truth)) for b in truth.blemishes]
    return BlemishItem(index=index, prompt=prompt, clean=clean, image=image, truth=truth, regions=regions,
                       requested=requested)


def region_mask(region: Region | Requested, width: int, height: int) -> np.ndarray:
    """The full-image boolean mask of one region (or requested effect)."""
    x0, y0, x1, y1 = region.box
    out = np.zeros((height, width), dtype=bool)
    out[y0:y1, x0:x1] = rle_decode(region.rle, y1 - y0, x1 - x0)
    return out


def requested_mask(requested: list[Requested], defects: np.ndarray) -> np.ndarray:
    """The pixels of the requested effects that no defect painted over (`defects`: the defect mask)."""
    h, w = defects.shape
    out = np.zeros((h, w), dtype=bool)
    for r in requested:
        out |= region_mask(r, w, h)
    return out & ~defects


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _row(*, rid: str, split: str, prompt: str, image: Image.Image, regions: list[Region], source: str,
         requested: list[Requested] | None = None) -> dict[str, Any]:
    w, h = image.size
    union = np.zeros((h, w), dtype=bool)
    for r in regions:
        union |= region_mask(r, w, h)
    return {
        "id": rid, "split": split, "prompt": prompt,
        "image": {"bytes": _png(image.convert("RGB")), "path": f"{rid}.png"},
        "mask": {"bytes": _png(Image.fromarray(union.astype(np.uint8) * 255, "L")), "path": f"{rid}-mask.png"},
        "width": w, "height": h,
        "regions": json.dumps([r.model_dump(mode="json") for r in regions]),
        "categories": [r.category for r in regions], "dimensions": [r.dimension for r in regions],
        "n_regions": len(regions), "source": source,
        "requested": json.dumps([r.model_dump(mode="json") for r in requested or []]),
    }


def build_shard(unit: tuple[BlemishJob, int]) -> tuple[int, list[dict[str, Any]]]:
    """Worker function (picklable): render every image of one shard and return its rows."""
    job, shard = unit
    rows = []
    for index in range(shard * job.shard_size, min(job.n, (shard + 1) * job.shard_size)):
        item = render_item(job, index)
        rid = f"{job.seed}-{index:07d}"
        rows.append(_row(rid=rid, split=split_of(rid, job.splits), prompt=item.prompt, image=item.image,
                         regions=item.regions, source="sandbox", requested=item.requested))
    return shard, rows


def _schema() -> Any:
    import pyarrow as pa  # noqa: PLC0415 - optional (the data/train extra): only Parquet needs it

    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    s, i = pa.string(), pa.int64()
    return pa.schema([("id", s), ("split", s), ("prompt", s), ("image", img), ("mask", img), ("width", i),
                      ("height", i), ("regions", s), ("categories", pa.list_(s)), ("dimensions", pa.list_(s)),
                      ("n_regions", i), ("source", s), ("requested", s)])


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa  # noqa: PLC0415 - optional, see _schema
    import pyarrow.parquet as pq  # noqa: PLC0415

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), sink, compression="zstd")
    return sink.getvalue()


def _settle_job(job_dump: dict[str, Any], out: Path) -> None:
    path = out / "job.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise BlemishDataError(f"{path} is not a limner blemish job; use another --out") from None
        if old != job_dump:
            diffs = sorted(k for k in set(old) | set(job_dump) if old.get(k) != job_dump.get(k))
            raise BlemishDataError(f"{out} holds a build with other settings ({', '.join(diffs)}); use another "
                                   "--out, or the same options to resume it")
        return
    atomic_write_json(path, job_dump)


def _done_shards(out: Path) -> set[int]:
    done = set()
    for f in (out / SHARDS).glob("shard-*.parquet"):
        try:
            done.add(int(f.stem.split("-")[1]))
        except (IndexError, ValueError):
            continue
    return done


@dataclass
class BlemishBuildSummary:
    out: Path
    images: int
    shards: int
    done_before: int
    ran: int
    executor: str
    wall_s: float
    card: dict[str, Any]


def build_blemish_dataset(
    job: BlemishJob, out: Path, *, executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None, limit: int | None = None,
) -> BlemishBuildSummary:
    """Build (or resume) the dataset into `out`, then write the split files and the card.

    Work is cut into shards of `job.shard_size` images; workers return rows and this process writes each
    shard atomically as it arrives, so a killed build loses at most the shards in flight and a re-run redoes
    only the missing ones. `limit` stops after that many new shards (the splits then cover what exists).
    """
    out = Path(out)
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    _settle_job({"kind": "sandbox", "digest": job.digest(), **job.model_dump(mode="json")}, out)
    n_shards = -(-job.n // job.shard_size)
    done = _done_shards(out)
    todo = [(job, s) for s in range(n_shards) if s not in done]
    if limit is not None:
        todo = todo[:limit]
    own = executor is None
    executor = executor or LocalExecutor(1)
    t0 = time.perf_counter()
    ran = 0
    try:
        for shard, rows in executor.map_unordered(build_shard, todo):
            atomic_write_bytes(out / SHARDS / f"shard-{shard:05d}.parquet", _parquet_bytes(rows))
            ran += 1
            if progress is not None:
                progress(len(done) + ran, n_shards)
    finally:
        if own:
            executor.close()
    card = write_splits(out)
    return BlemishBuildSummary(out=out, images=card["images"], shards=n_shards, done_before=len(done), ran=ran,
                               executor=executor.name, wall_s=time.perf_counter() - t0, card=card)


def write_splits(out: Path) -> dict[str, Any]:
    """Rewrite train/val/test.parquet and the card from the shards (sorted by id: same bytes on resume)."""
    import pyarrow as pa  # noqa: PLC0415 - optional, see _schema
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    out = Path(out)
    files = sorted((out / SHARDS).glob("shard-*.parquet"))
    if not files:
        raise BlemishDataError(f"{out} holds no shards")
    table = pa.concat_tables([_read_shard(f) for f in files])
    table = table.sort_by("id")
    for split in SPLITS:
        part = table.filter(pc.equal(table["split"], split))
        sink = io.BytesIO()
        pq.write_table(part, sink, compression="zstd")
        atomic_write_bytes(out / f"{split}.parquet", sink.getvalue())
    meta = table.select(["split", "categories", "dimensions", "n_regions", "requested"]).to_pylist()
    card = _card(meta)
    atomic_write_json(out / "card.json", card)
    atomic_write_text(out / "card.md", _card_md(card))
    return card


def _read_shard(path: Path) -> Any:
    """A shard as a table of the current schema (shards written before `requested` existed get "[]")."""
    import pyarrow as pa  # noqa: PLC0415 - optional, see _schema
    import pyarrow.parquet as pq  # noqa: PLC0415

    table = pq.read_table(path)
    if "requested" not in table.column_names:
        table = table.append_column("requested", pa.array(["[]"] * table.num_rows, pa.string()))
    return table.select(_schema().names).cast(_schema())


def _card(meta: list[dict[str, Any]]) -> dict[str, Any]:
    per_split: dict[str, Any] = {}
    for split in SPLITS:
        rows = [m for m in meta if m["split"] == split]
        cats = Counter(c for m in rows for c in m["categories"])
        dims = Counter(d for m in rows for d in m["dimensions"])
        req = [[r["category"] for r in json.loads(m["requested"] or "[]")] for m in rows]
        per_split[split] = {"images": len(rows), "regions": sum(m["n_regions"] for m in rows),
                            "clean_images": sum(m["n_regions"] == 0 for m in rows),
                            "categories": dict(sorted(cats.items())), "dimensions": dict(sorted(dims.items())),
                            "requested_images": sum(bool(r) for r in req),
                            "requested": dict(sorted(Counter(c for r in req for c in r).items()))}
    return {"images": len(meta), "regions": sum(m["n_regions"] for m in meta), "splits": per_split,
            "dimensions": {d: list(ks) for d, ks in DIMENSIONS.items()}, "simulated": True}


def _card_md(card: dict[str, Any]) -> str:
    lines = ["# Blemish dataset (SIMULATED sandbox world)", "",
             f"{card['images']} images, {card['regions']} defect regions.", "",
             "| split | images | regions | clean images | images with requested effects |", "|---|---|---|---|---|"]
    for split, s in card["splits"].items():
        lines.append(f"| {split} | {s['images']} | {s['regions']} | {s['clean_images']} | "
                     f"{s.get('requested_images', 0)} |")
    lines += ["", "| dimension | category | regions (train / val / test) |", "|---|---|---|"]
    cats = sorted({c for s in card["splits"].values() for c in s["categories"]})
    for c in cats:
        counts = " / ".join(str(card["splits"][s]["categories"].get(c, 0)) for s in SPLITS)
        lines.append(f"| {DIMENSION_OF.get(c, 'other')} | {c} | {counts} |")
    asked = sorted({c for s in card["splits"].values() for c in s.get("requested", {})})
    if asked:
        lines += ["", "Requested effects (asked for by the prompt; not defects, 0 in the mask):", "",
                  "| category | effects (train / val / test) |", "|---|---|"]
        for c in asked:
            counts = " / ".join(str(card["splits"][s]["requested"].get(c, 0)) for s in SPLITS)
            lines.append(f"| {c} | {counts} |")
    return "\n".join(lines) + "\n"


def iter_split(data_dir: Path, split: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows of one split as dicts with decoded `image` (RGB PIL), `mask` (bool array), `regions` (Region),
    `requested` (Requested; empty for files written before the column existed)."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional, see _schema

    path = Path(data_dir) / f"{split}.parquet"
    if not path.is_file():
        raise BlemishDataError(f"{path} not found (build it with `limner data blemish --out {data_dir}`)")
    table = pq.read_table(path)
    n = table.num_rows if limit is None else min(limit, table.num_rows)
    for row in table.slice(0, n).to_pylist():
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        mask = np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"])).convert("L")) > 127
        regions = [Region.model_validate(r) for r in json.loads(row["regions"])]
        requested = [Requested.model_validate(r) for r in json.loads(row.get("requested") or "[]")]
        yield {**row, "image": image, "mask": mask, "regions": regions, "requested": requested}


class _Annotation(BaseModel):
    class _Reg(BaseModel):
        mask: str
        category: str
        description: str = ""

    image: str
    prompt: str = ""
    regions: list[_Reg] = Field(default_factory=list)
    split: str | None = None


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BlemishDataError(f"{rel!r} points outside {root}")
    if not path.is_file():
        raise BlemishDataError(f"{rel!r} not found in {root}")
    return path


def ingest_external(src: Path, out: Path, *, splits: tuple[float, float, float] = (0.65, 0.05, 0.30),
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Turn an image + mask + category folder (module docstring) into the same split files and card."""
    src = Path(src)
    ann_path = src / "annotations.jsonl"
    if not ann_path.is_file():
        raise BlemishDataError(f"{src} has no annotations.jsonl (one JSON object per image; see docs/retouch.md)")
    lines = [ln for ln in ann_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    out = Path(out)
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    _settle_job({"kind": "external", "source": str(src.resolve()), "splits": list(splits)}, out)
    rows = []
    for k, line in enumerate(lines):
        try:
            ann = _Annotation.model_validate_json(line)
        except ValueError as e:
            raise BlemishDataError(f"annotations.jsonl line {k + 1}: {str(e).splitlines()[0]}") from None
        if ann.split is not None and ann.split not in SPLITS:
            raise BlemishDataError(f"annotations.jsonl line {k + 1}: split must be one of {SPLITS}")
        image = Image.open(_inside(src, ann.image)).convert("RGB")
        w, h = image.size
        regions = []
        for reg in ann.regions:
            m = np.asarray(Image.open(_inside(src, reg.mask)).convert("L")) > 0
            if m.shape != (h, w):
                raise BlemishDataError(f"mask {reg.mask} is {m.shape[1]}x{m.shape[0]}, image {ann.image} is {w}x{h}")
            if not m.any():
                continue
            ys, xs = np.nonzero(m)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            regions.append(Region(category=reg.category, dimension=DIMENSION_OF.get(reg.category, "other"), box=box,
                                  rle=rle_encode(m[box[1]:box[3], box[0]:box[2]]),
                                  description=reg.description or BLEMISH_KINDS.get(reg.category, reg.category)))
        rid = f"ext-{k:07d}-{Path(ann.image).stem}"
        rows.append(_row(rid=rid, split=ann.split or split_of(rid, splits), prompt=ann.prompt, image=image,
                         regions=regions, source="external"))
        if progress is not None:
            progress(k + 1, len(lines))
    if not rows:
        raise BlemishDataError(f"{ann_path} holds no images")
    atomic_write_bytes(out / SHARDS / "shard-00000.parquet", _parquet_bytes(rows))
    return write_splits(out)
