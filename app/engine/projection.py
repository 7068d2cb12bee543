"""Trajectories in state space: the hidden states of a layer projected on their principal components.

PCA by the SVD of the centered states in float64: with X (N, H) the states fitted on, mean m and
X - m = U S V^T, the components are the first k rows of V^T, the explained variance ratios
S_i² / Σ S², and a trajectory's points (x_t - m) V_k. Each component's sign is fixed so that its
largest-magnitude entry is positive (as scikit-learn's svd_flip does), so equal inputs give equal
pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Projection:
    points: Tensor  # (T, k): the trajectory in component coordinates
    explained_variance_ratio: Tensor  # (k,)
    components: Tensor  # (k, H), orthonormal rows
    mean: Tensor  # (H,)


def pca(states: Tensor, components: int) -> tuple[Tensor, Tensor, Tensor]:
    """(components (k, H), explained variance ratio (k,), mean (H,)) of states (N, H), float64.

    ValueError unless 1 <= k <= min(N, H). All-equal states have ratios 0."""
    x = states.double()
    rows, width = x.shape
    if not 1 <= components <= min(rows, width):
        raise ValueError(
            f"components must be between 1 and min(steps, hidden_size) = {min(rows, width)}, got {components}"
        )
    mean = x.mean(0)
    _, singular, vh = torch.linalg.svd(x - mean, full_matrices=False)
    vh = vh[:components]
    biggest = vh.abs().argmax(1)
    signs = torch.sign(vh[torch.arange(components), biggest])
    vh = vh * torch.where(signs == 0, torch.ones_like(signs), signs).unsqueeze(1)
    variance = singular.pow(2)
    total = variance.sum()
    ratio = variance[:components] / total if total > 0 else torch.zeros(components, dtype=x.dtype)
    return vh, ratio, mean


def project_paths(paths: Sequence[Tensor], components: int, fit: Sequence[Tensor] = ()) -> list[Projection]:
    """Project every path ((T_i, H) each) on one PCA fitted on ``fit`` (several (N_j, H), stacked
    along time) or, when ``fit`` is empty, on the paths themselves: several models' or inputs'
    states on shared axes. ValueError unless every state has the same width H (hidden units of
    different models are different axes only when the widths differ; equal widths still are,
    which is why the caller decides which paths share a picture)."""
    basis = list(fit) or list(paths)
    widths = sorted({int(s.shape[-1]) for s in [*paths, *basis]})
    if len(widths) > 1:
        raise ValueError(f"paths on shared axes need states of one width; these have widths {widths}")
    vh, ratio, mean = pca(torch.cat([b.double() for b in basis]), components)  # vh (k, H), mean (H,)
    return [Projection((p.double() - mean) @ vh.T, ratio, vh, mean) for p in paths]  # each (T_i, k)


def project(states: Tensor, components: int, fit: Sequence[Tensor] = ()) -> Projection:
    """Project ``states`` (T, H) on the principal components of ``fit`` (several (T_i, H), stacked
    along time) or, when ``fit`` is empty, of ``states`` themselves. Fitting on a fixed set keeps
    the axes still while the projected input changes, so several paths can share one picture."""
    return project_paths([states], components, fit)[0]
