"""Fast scalar random draws from a seeded numpy Generator (drawn in blocks, reproducible)."""

from __future__ import annotations

import numpy as np

BLOCK = 2048


class Draws:
    """Scalar draws for per-tick simulation code: numpy's scalar calls cost microseconds each."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._normals: list[float] = []
        self._uniforms: list[float] = []

    def normal(self, mean: float = 0.0, sd: float = 1.0) -> float:
        """One Gaussian draw."""
        if not self._normals:
            self._normals = self.rng.standard_normal(BLOCK).tolist()
        return mean + sd * self._normals.pop()

    def random(self) -> float:
        """One uniform draw in [0, 1)."""
        if not self._uniforms:
            self._uniforms = self.rng.random(BLOCK).tolist()
        return self._uniforms.pop()

    def uniform(self, low: float, high: float) -> float:
        """One uniform draw in [low, high)."""
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int) -> int:
        """One integer in [low, high)."""
        return min(high - 1, low + int((high - low) * self.random()))
