"""Evaluation of images against prompts: judges and the scores benchmarks report."""
