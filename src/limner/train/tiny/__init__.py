"""A tiny text-to-image world and model, trained from scratch on a CPU, for showing APO working end to end.

- `world`: 32×32 two-object scenes, captions, a renderer and an exact checker (numpy + PIL, no torch);
- `model`: the pixel-space pipeline (word-level text encoder, diffusers UNet2DConditionModel, DDPM/DDIM)
  saved in a diffusers-like directory that `APOTrainer` loads as the "pixel" family;
- `pretrain`: resumable v-prediction pretraining on rendered scenes;
- `evaluate`: batched sampling + checking, LoRA loading, paired standard errors, sample grids.

docs/apo_proof.md describes the experiment (benchmarks/apo_proof.py) built on these.
"""
