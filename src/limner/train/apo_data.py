"""APO data: the preference-pair schema, its validation, and the latent / text-embedding cache.

A dataset is a directory with one manifest, ``pairs.parquet`` or ``pairs.jsonl``, one row per pair:

    prompt               str    the conditioning prompt (the winner's prompt)
    winner               str    image path, relative to the directory (or absolute)
    loser                str    image path; same size as the winner
    distance             float  compositional distance (number of atomic edits), ≥ 0
    max_distance         float  optional: normalise this row as distance / max_distance
    normalized_distance  float  optional: the distance already in [0, 1] (wins over the two above)
    mask                 str    optional: difference-mask image (white = winner and loser differ), as the
                                data orchestra writes it; needed by `loss_mask` training

Other columns (cluster id, edit list, ...) are ignored. Without ``normalized_distance`` or
``max_distance``, distances are min–max normalised over the dataset so the schedule uses its whole range.

The cache: the VAE and the text encoders are run once over the dataset and their outputs written as
safetensors under ``<cache_dir>/<fingerprint>/`` (one file per pair, one per distinct prompt), so the
trainer then holds only the denoiser. The fingerprint covers the manifest bytes, the model id and every
option that changes the tensors (not image contents or local weights: overwrite those in place and you
must delete the cache); a half-built cache is resumed file by file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save

from limner.files import atomic_write_bytes, atomic_write_text
from limner.train.errors import DatasetError

__all__ = [
    "CACHE_VERSION", "MANIFEST_NAMES", "CachedPairDataset", "DatasetError", "Family", "LatentCache",
    "PairBatchSampler", "PreferencePair", "build_cache", "cache_fingerprint", "collate", "encode_images",
    "encode_prompts", "find_manifest", "load_image", "load_mask", "load_pairs", "prompt_key", "seed_for",
]

# "pixel": a pixel-space UNet with no VAE (limner's tiny pipeline, limner.train.tiny): images are the latents.
Family = Literal["sd", "sdxl", "sd3", "flux", "pixel"]
MANIFEST_NAMES = ("pairs.parquet", "pairs.jsonl")
CACHE_VERSION = 2  # 2: pair files may hold the difference mask


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    winner: Path
    loser: Path
    normalized_distance: float
    size: tuple[int, int]  # (width, height) of both images on disk
    mask: Path | None = None  # difference mask (any size; resized to the latent grid when cached)


# --- 1. manifest ------------------------------------------------------------------------------------
def find_manifest(data_dir: str | Path) -> Path:
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"data directory {str(root)!r} does not exist")
    found = [root / name for name in MANIFEST_NAMES if (root / name).is_file()]
    if not found:
        raise DatasetError(f"{str(root)!r} has no manifest; expected one of {list(MANIFEST_NAMES)}")
    if len(found) > 1:
        raise DatasetError(f"{str(root)!r} has both {found[0].name} and {found[1].name}; keep one")
    return found[0]


def _read_rows(manifest: Path) -> list[dict[str, Any]]:
    if manifest.suffix == ".parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional (the train extra): only parquet manifests need it

        return pq.read_table(manifest).to_pylist()
    rows = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{manifest.name} line {number} is not valid JSON: {err.msg}") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{manifest.name} line {number} must be a JSON object")
        rows.append(row)
    return rows


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DatasetError(f"{key}={value!r} is not a finite number")
    return float(value)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DatasetError(f"image {str(path)!r} does not exist") from None
    except OSError as err:
        raise DatasetError(f"image {str(path)!r} cannot be read: {err}") from None


def load_pairs(
    data_dir: str | Path, *, resolution: int | None = None, require_distance: bool = True,
    require_mask: bool = False,
) -> list[PreferencePair]:
    """Read and validate the manifest; every error names the row (1-based) and the offending value."""
    manifest = find_manifest(data_dir)
    root = manifest.parent
    rows = _read_rows(manifest)
    if not rows:
        raise DatasetError(f"{manifest} holds no pairs (the dataset is empty)")

    raw: list[tuple[str, Path, Path, float | None, float | None, tuple[int, int], Path | None]] = []
    for number, row in enumerate(rows, start=1):
        where = f"{manifest.name} row {number}"
        missing = [k for k in ("prompt", "winner", "loser") if not row.get(k)]
        if missing:
            raise DatasetError(f"{where}: missing field(s) {missing}")
        if not isinstance(row["prompt"], str):
            raise DatasetError(f"{where}: prompt={row['prompt']!r} is not a string")
        try:
            distance = _number(row, "distance")
            max_distance = _number(row, "max_distance")
            normalized = _number(row, "normalized_distance")
        except DatasetError as err:
            raise DatasetError(f"{where}: {err}") from None
        if distance is not None and distance < 0:
            raise DatasetError(f"{where}: distance={distance!r} is negative")
        if normalized is not None and not 0 <= normalized <= 1:
            raise DatasetError(f"{where}: normalized_distance={normalized!r} is outside [0, 1]")
        if max_distance is not None:
            if distance is None or max_distance <= 0 or distance > max_distance:
                raise DatasetError(f"{where}: needs 0 ≤ distance ≤ max_distance, got distance={distance!r}, "
                                   f"max_distance={max_distance!r}")
            normalized = normalized if normalized is not None else distance / max_distance
        if normalized is None and distance is None and require_distance:
            raise DatasetError(f"{where}: no 'distance' or 'normalized_distance' (needed unless beta_schedule "
                               f"is 'constant')")
        winner, loser = root / str(row["winner"]), root / str(row["loser"])
        try:
            size_w, size_l = _image_size(winner), _image_size(loser)
        except DatasetError as err:
            raise DatasetError(f"{where}: {err}") from None
        if size_w != size_l:
            raise DatasetError(f"{where}: winner {row['winner']!r} is {size_w[0]}×{size_w[1]} but loser "
                               f"{row['loser']!r} is {size_l[0]}×{size_l[1]}; a pair must share one size")
        mask = None
        if row.get("mask"):
            mask = root / str(row["mask"])
            try:
                _image_size(mask)
            except DatasetError as err:
                raise DatasetError(f"{where}: mask: {err}") from None
        elif require_mask:
            raise DatasetError(f"{where}: no 'mask' (needed by loss_mask=True; the data orchestra writes masks "
                               f"with `limner data build --masks`)")
        raw.append((row["prompt"], winner, loser, distance, normalized, size_w, mask))

    if resolution is None:
        sizes = {r[5] for r in raw}
        if len(sizes) > 1:
            listed = ", ".join(f"{w}×{h}" for w, h in sorted(sizes)[:4])
            raise DatasetError(f"images have different sizes ({listed}); set `resolution` to resize them")

    # Min–max normalisation over the rows that only give a raw distance.
    plain = [r[3] for r in raw if r[4] is None and r[3] is not None]
    low, high = (min(plain), max(plain)) if plain else (0.0, 0.0)
    pairs = []
    for prompt, winner, loser, distance, normalized, size, mask in raw:
        if normalized is None:
            normalized = 1.0 if distance is None or high == low else (distance - low) / (high - low)
        pairs.append(PreferencePair(prompt, winner, loser, float(normalized), size, mask))
    return pairs


# --- 2. images --------------------------------------------------------------------------------------
def load_image(path: Path, resolution: int | None) -> torch.Tensor:
    """RGB image as a (3, H, W) float tensor in [−1, 1]; resized (shorter side) and centre-cropped."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if resolution is not None and image.size != (resolution, resolution):
        scale = resolution / min(image.size)
        new = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
        image = image.resize(new, Image.Resampling.BICUBIC)
        left, top = (image.width - resolution) // 2, (image.height - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
    array = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())  # (H, W, 3) in [0, 255]
    return array.permute(2, 0, 1) / 127.5 - 1.0


# --- 3. encoders (run once, while the cache is built) -------------------------------------------------
@torch.no_grad()
def encode_prompts(
    pipe: Any, family: Family, prompts: list[str], device: torch.device, max_sequence_length: int | None
) -> list[dict[str, torch.Tensor]]:
    """Text conditioning exactly as the pipeline computes it at inference (no classifier-free branch)."""
    extra = {} if max_sequence_length is None else {"max_sequence_length": max_sequence_length}
    if family == "pixel":  # the token ids too: a trained text encoder (`train_text_encoder`) re-encodes them
        tensors = {"prompt_embeds": pipe.encode_prompt(prompts), "input_ids": pipe.text_encoder.tokenize(prompts)}
    elif family == "sd":
        embeds, _ = pipe.encode_prompt(prompts, device, 1, False)
        tensors = {"prompt_embeds": embeds}
    elif family == "sdxl":
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, device=device, do_classifier_free_guidance=False)
        tensors = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    elif family == "sd3":
        embeds, _, pooled, _ = pipe.encode_prompt(
            prompts, prompt_2=None, prompt_3=None, device=device, do_classifier_free_guidance=False, **extra
        )
        tensors = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    elif family == "flux":
        embeds, pooled, _ = pipe.encode_prompt(prompts, prompt_2=None, device=device, **extra)
        tensors = {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    else:
        raise ValueError(f"unknown family {family!r}")
    return [{k: v[i].detach().cpu().contiguous() for k, v in tensors.items()} for i in range(len(prompts))]


@torch.no_grad()
def encode_images(vae: Any, family: Family, pixels: torch.Tensor) -> torch.Tensor:
    """VAE latents in the denoiser's space: mean of the posterior, shifted and scaled as the family wants.
    The pixel family has no VAE (`vae` is None): the denoiser works on the pixels in [−1, 1]."""
    if family == "pixel":
        return pixels.float().cpu()
    latents = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
    if family in ("sd3", "flux"):
        latents = latents - vae.config.shift_factor
    return (latents * vae.config.scaling_factor).float().cpu()


# --- 4. cache -----------------------------------------------------------------------------------------
def load_mask(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """A difference mask as a (1, h, w) float tensor in [0, 1] on the latent grid (area-averaged)."""
    with Image.open(path) as opened:
        mask = opened.convert("L")
    if mask.size != (size[1], size[0]):
        mask = mask.resize((size[1], size[0]), Image.Resampling.BOX)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32).copy())[None] / 255.0


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors, atomically: an interrupted build leaves whole files only, so a resume can trust them."""
    atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}))


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:24]


def cache_fingerprint(manifest: Path, options: dict[str, Any]) -> str:
    """Hash of the manifest bytes and of every option that changes the cached tensors."""
    digest = hashlib.sha256(manifest.read_bytes())
    digest.update(json.dumps({"version": CACHE_VERSION, **options}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class LatentCache:
    """One cache directory: ``pairs/NNNNNNN.safetensors`` (winner, loser[, time_ids]) and
    ``text/<sha>.safetensors`` (prompt embeddings), plus ``complete.json`` once everything is written."""

    def __init__(self, root: str | Path, fingerprint: str) -> None:
        self.dir = Path(root) / fingerprint

    def pair_path(self, index: int) -> Path:
        return self.dir / "pairs" / f"{index:07d}.safetensors"

    def text_path(self, prompt: str) -> Path:
        return self.dir / "text" / f"{prompt_key(prompt)}.safetensors"

    @property
    def marker(self) -> Path:
        return self.dir / "complete.json"

    def is_complete(self, num_pairs: int) -> bool:
        if not self.marker.is_file():
            return False
        return json.loads(self.marker.read_text()).get("pairs") == num_pairs

    def mark_complete(self, num_pairs: int, num_prompts: int) -> None:
        atomic_write_text(self.marker, json.dumps({"pairs": num_pairs, "prompts": num_prompts,
                                                   "version": CACHE_VERSION}))


def build_cache(
    cache: LatentCache,
    pairs: Sequence[PreferencePair],
    pipe: Any,
    family: Family,
    *,
    resolution: int | None,
    batch_size: int,
    max_sequence_length: int | None,
    rank: int = 0,
    world_size: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Encode this rank's share (index % world_size == rank) of the pairs and prompts that are missing.

    The caller synchronises the ranks and writes the completion marker; files already on disk are
    skipped, so an interrupted build resumes where it stopped.
    """
    device = pipe.device if family == "pixel" else pipe.vae.device
    prompts = sorted({p.prompt for p in pairs})
    todo_prompts = [p for i, p in enumerate(prompts) if i % world_size == rank and not cache.text_path(p).exists()]
    todo_pairs = [i for i in range(len(pairs)) if i % world_size == rank and not cache.pair_path(i).exists()]
    total, done = len(todo_prompts) + len(todo_pairs), 0

    for chunk in _chunks(todo_prompts, batch_size):
        for prompt, tensors in zip(chunk, encode_prompts(pipe, family, chunk, device, max_sequence_length)):
            _atomic_save(tensors, cache.text_path(prompt))
        done += len(chunk)
        if progress:
            progress(done, total)

    for chunk in _chunks(todo_pairs, max(1, batch_size // 2)):
        pixels = torch.stack([load_image(path, resolution) for i in chunk
                              for path in (pairs[i].winner, pairs[i].loser)])
        latents = encode_images(getattr(pipe, "vae", None), family, pixels)  # (2·n, C, h, w): winner, loser, winner, ...
        if family == "flux" and (latents.shape[-1] % 2 or latents.shape[-2] % 2):
            raise DatasetError(f"FLUX packs 2×2 latent patches: images of {pixels.shape[-1]}×{pixels.shape[-2]} "
                               f"give odd latent size {tuple(latents.shape[-2:])}; use a multiple of 16 pixels")
        for j, index in enumerate(chunk):
            tensors = {"winner": latents[2 * j], "loser": latents[2 * j + 1]}
            if pairs[index].mask is not None:
                tensors["mask"] = load_mask(pairs[index].mask, tuple(latents.shape[-2:]))
            if family == "sdxl":  # added conditioning: original size, crop top-left, target size
                h, w = pixels.shape[-2:]
                tensors["time_ids"] = torch.tensor([h, w, 0, 0, h, w], dtype=torch.float32)
            _atomic_save(tensors, cache.pair_path(index))
        done += len(chunk)
        if progress:
            progress(done, total)


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --- 5. training-time reading ---------------------------------------------------------------------------
class CachedPairDataset(torch.utils.data.Dataset):
    """Reads cached tensors. Items are addressed by ``(pair_index, draw_id)`` so the per-draw noise seed
    travels with the sample (see `PairBatchSampler`)."""

    def __init__(self, cache: LatentCache, pairs: Sequence[PreferencePair]) -> None:
        self.cache, self.pairs = cache, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, draw_id = key
        item = load_file(self.cache.pair_path(index))
        item.update(load_file(self.cache.text_path(self.pairs[index].prompt)))
        item["normalized_distance"] = torch.tensor(self.pairs[index].normalized_distance, dtype=torch.float32)
        item["draw_id"] = torch.tensor(draw_id, dtype=torch.int64)
        return item


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack the keys every item has (a mask is optional per row; `loss_mask` runs require it on all)."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0] if all(key in i for i in items)}


class PairBatchSampler(torch.utils.data.Sampler[list[tuple[int, int]]]):
    """Deterministic batches for one rank, from any step on: this is what makes resume and DDP exact.

    Global micro-batch g = (step·accumulation + micro)·world_size + rank. Epoch e = g // batches_per_epoch
    uses the permutation seeded by (seed, e); draw ids g·B + k seed each sample's noise and timestep. So
    one process with accumulation 2k sees exactly the batches that 2 processes with accumulation k see,
    and a resumed run sees exactly what the uninterrupted one would have.
    """

    def __init__(self, num_pairs: int, batch_size: int, *, seed: int, accumulation: int, world_size: int,
                 rank: int, start_step: int, max_steps: int) -> None:
        self.batches_per_epoch = num_pairs // batch_size
        if self.batches_per_epoch == 0:
            raise DatasetError(f"the dataset has {num_pairs} pairs, fewer than per_device_train_batch_size="
                               f"{batch_size}")
        self.num_pairs, self.batch_size, self.seed = num_pairs, batch_size, seed
        self.accumulation, self.world_size, self.rank = accumulation, world_size, rank
        self.start_step, self.max_steps = start_step, max_steps
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __len__(self) -> int:
        return max(0, self.max_steps - self.start_step) * self.accumulation

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(seed_for(self.seed, "epoch", epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.num_pairs, generator=generator)
        return self._perm

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.max_steps):
            for micro in range(self.accumulation):
                g = (step * self.accumulation + micro) * self.world_size + self.rank
                epoch, position = divmod(g, self.batches_per_epoch)
                start = position * self.batch_size
                indices = self._permutation(epoch)[start : start + self.batch_size].tolist()
                yield [(index, g * self.batch_size + k) for k, index in enumerate(indices)]


def seed_for(seed: int, *parts: int | str) -> int:
    """A stable 63-bit seed from the run seed and a tag (independent of Python's hash randomisation)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1
