"""One epoch of training and prediction with test-clip averaging; the metrics are in
:mod:`edgeact.metrics`.

Shared by ``edgeact train`` and ``edgeact eval``. Shapes: a training batch is
``(B, 3, T, S, S)`` with labels ``(B,)``; a test batch is ``(B, K, 3, T, S, S)`` (K sampled frame
sets per clip), whose softmax scores are averaged over K.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgeact.errors import EdgeactError


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    clips: int
    seconds: float

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0


def autocast_for(device: torch.device, enabled: bool):
    """Mixed precision on CUDA (bf16 where supported, else fp16); a no-op elsewhere."""
    if device.type != "cuda" or not enabled:
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def batches(loader) -> Iterator:
    """The batches of ``loader``, with errors of bad input kept one line.

    torch re-raises an exception from a DataLoader worker as the same type built from a new
    message, "Caught EdgeactError in DataLoader worker process 0. Original Traceback ..." with the
    worker's whole traceback inside; an :class:`EdgeactError` (a corrupt frame pack, say) comes
    back here as itself, with its own one-line message. Every loop over clips pulls through this.
    """
    try:
        yield from loader
    except EdgeactError as exc:
        raise worker_error(exc) from None


def worker_error(exc: EdgeactError) -> EdgeactError:
    """``exc`` as it was raised in the worker, when torch re-raised it with a traceback as its
    message (the traceback's last line is ``module.Type: message``); else ``exc`` itself."""
    text = str(exc)
    if not (text.startswith("Caught ") and "Original Traceback" in text):
        return exc
    name = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    last = [line for line in text.splitlines() if line.startswith(name)]
    return type(exc)(last[-1][len(name):]) if last else exc


def train_epoch(model: nn.Module, loader, loss_fn: Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor],
                optimizer: torch.optim.Optimizer, device: torch.device, *, amp: bool = True,
                channels_last: bool = False, scaler: Optional[torch.amp.GradScaler] = None,
                on_batch: Optional[Callable[[int, float, float], None]] = None) -> EpochStats:
    """Train one pass over ``loader``; ``loss_fn(logits, labels)`` maps the model's tuple of
    logits and the fine labels to a scalar. ``on_batch(clips, loss, acc)`` reports progress."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for clips, labels in batches(loader):
        clips = to_device(clips, device, channels_last)
        labels = labels.to(device, non_blocking=True)
        with autocast_for(device, amp):
            logits = model(clips)
            loss = loss_fn(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        n = labels.shape[0]
        total_loss += float(loss.detach()) * n
        correct += int((logits[-1].detach().argmax(1) == labels).sum())
        seen += n
        if on_batch is not None:
            on_batch(n, total_loss / seen, correct / seen)
    return EpochStats(total_loss / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start)


@torch.no_grad()
def predict_with(forward: Callable[[torch.Tensor], Sequence], loader,
                 on_batch: Optional[Callable[[int], None]] = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Softmax scores averaged over each clip's K frame sets, for any ``forward`` that maps
    ``(B*K, 3, T, S, S)`` clips to per-head logits (torch tensors or numpy arrays).

    ``loader`` yields ``(clips (B, K, 3, T, S, S), labels (B,))`` (or ``(B, 3, T, S, S)``, K = 1).
    Returns ``(probs, labels)``: one ``(N, M_l)`` float array per head (coarse to fine, fine
    last) and the fine labels ``(N,)``. The softmax and the mean run in float32 torch, whatever
    computed the logits, so every backend is scored the same way.
    """
    per_head: list[list[np.ndarray]] = []
    labels_all: list[np.ndarray] = []
    for clips, labels in batches(loader):
        if clips.dim() == 5:
            clips = clips.unsqueeze(1)
        b, k = clips.shape[:2]
        logits = forward(clips.flatten(0, 1))
        if not per_head:
            per_head = [[] for _ in logits]
        for store, lg in zip(per_head, logits):
            store.append(F.softmax(torch.as_tensor(lg).float(), dim=1).view(b, k, -1).mean(1).cpu().numpy())
        labels_all.append(np.asarray(labels))
        if on_batch is not None:
            on_batch(b)
    if not per_head:
        raise ValueError("nothing to predict: the loader is empty")
    return [np.concatenate(s) for s in per_head], np.concatenate(labels_all)


def predict(model: nn.Module, loader, device: torch.device, *, amp: bool = True, channels_last: bool = False,
            on_batch: Optional[Callable[[int], None]] = None) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`predict_with` for a torch model on ``device`` (mixed precision on CUDA when ``amp``)."""
    model.eval()

    def forward(x: torch.Tensor):
        with autocast_for(device, amp):
            return model(to_device(x, device, channels_last))

    return predict_with(forward, loader, on_batch)
