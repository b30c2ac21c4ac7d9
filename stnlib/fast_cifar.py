"""A fast CIFAR-10 network and its training recipe, after Keller Jordan's airbench (arXiv 2404.00498).

What the fast recipes do, written for this repository (airbench itself targets CUDA only):

* **Network** (:func:`fast_backbone`): a frozen 2x2 *whitening* convolution (its filters are
  the eigenvectors of the training set's 2x2 patch covariance, scaled by ``1/sqrt(eigenvalue)``,
  in ``+`` and ``-`` copies), GELU, then three conv groups ``conv3x3 -> maxpool 2 -> BN -> GELU ->
  conv3x3 -> BN -> GELU`` with 64, 256, 256 channels, a 3x3 max pool, and a bias-free linear
  layer scaled by 1/9. Batch norm keeps its scale fixed at 1 (only the shift learns), momentum
  0.4 in PyTorch's convention, eps 1e-12. Convolutions start as the identity on their first
  ``c_in`` channels (Dirac init).
* **Recipe** (:class:`FastRecipe`, :func:`train_fast`): Nesterov SGD with batch 1024 and the
  hyperparameters written per 1024 images and decoupled from momentum; batch-norm shifts learn
  64x faster; a triangular learning-rate schedule (0.2 -> 1 at 23 % -> 0.07); label smoothing
  0.2; the whitening bias trains for the first 3 epochs only; *lookahead*: every 5 steps the
  weights are pulled towards a slow moving average, which at the end replaces them.
* **Augmentation**: random translation by up to 2 pixels (reflect padding) and a horizontal
  flip that alternates from epoch to epoch for each image (half of them flipped in even epochs,
  the other half in odd ones).
* **Test-time augmentation** (:func:`predict_tta`): average the logits of the image, its
  mirror, and both shifted by one pixel diagonally (six views).

Images here are normalized ``(B, 3, H, W)`` float tensors (``ImageData.mean``/``std``). A
spatial transformer, when present, sits in front of the backbone (:func:`fast_stn_net`) and is
trained with the backbone, its parameters in a group of their own.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import ArrayDataset, ImageData
from .env import pick_device
from .models import SpatialTransformer, STNClassifier, bn_localization
from .train import EpochStats, EvalMode, EvalPoint, History, autocast

__all__ = ["FAST", "FastRecipe", "exact_test_images", "fast_backbone", "fast_stn_net", "init_whitening",
           "predict_tta", "train_fast"]  # fmt: skip

WIDTHS = (64, 256, 256)


class _BatchNorm(nn.BatchNorm2d):
    """Batch norm with its scale frozen at 1 (only the shift learns), eps 1e-12, momentum 0.4."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-12, momentum=0.4)
        self.weight.requires_grad_(False)


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(c_in, c_out)])  # starts as the identity on the first c_in channels
    return conv


def _conv_group(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        _conv(c_in, c_out), nn.MaxPool2d(2), _BatchNorm(c_out), nn.GELU(),
        _conv(c_out, c_out), _BatchNorm(c_out), nn.GELU(),
    )  # fmt: skip


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def fast_backbone(widths: Sequence[int] = WIDTHS, *, classes: int = 10) -> nn.Sequential:
    """``(B, 3, 32, 32)`` normalized images -> ``(B, classes)`` logits (module docstring).

    ``widths``: channels of the three conv groups (airbench94: 64, 256, 256; about 1.97 M
    parameters). Module ``[0]`` is the whitening convolution; call :func:`init_whitening`
    before training.
    """
    w1, w2, w3 = widths
    whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)  # 2 x (3 * 2 * 2) filters
    whiten.weight.requires_grad_(False)
    nn.init.zeros_(whiten.bias)
    return nn.Sequential(
        whiten, nn.GELU(),
        _conv_group(24, w1), _conv_group(w1, w2), _conv_group(w2, w3),
        nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w3, classes, bias=False), _Scale(1 / 9),
    )  # fmt: skip


@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: Tensor, eps: float = 5e-4) -> None:
    """Set ``conv`` (``2k`` filters of ``C x k x k``) to whiten ``images`` ``(N, C, H, W)``'s ``k x k`` patches.

    Its first ``k`` filters are the patch covariance's eigenvectors (largest eigenvalue first)
    divided by ``sqrt(eigenvalue + eps)``; the other ``k`` are their negatives (so a GELU
    after it keeps both signs). On the training patches the first half's outputs then have
    (nearly) identity covariance.
    """
    c, kh, kw = conv.weight.shape[1:]
    if conv.weight.shape[0] != 2 * c * kh * kw:
        raise ValueError(f"conv needs 2*{c}*{kh}*{kw} filters, has {conv.weight.shape[0]}")
    patches = images.float().unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C, H', W', kh, kw)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kh * kw)
    cov = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)
    filters = (eigenvectors / torch.sqrt(eigenvalues + eps)[:, None]).reshape(-1, c, kh, kw)
    conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight))


def fast_stn_net(
    *, stn: bool = True, fill: float | Sequence[float] | None = None, in_size: int = 32, view: int = 32,
    family: str = "affine", init_zoom: float = 1.0,
) -> STNClassifier:
    """:func:`fast_backbone` with a spatial transformer in front (``stn=False``: the ablation).

    ``in_size``: the input canvas (32 for CIFAR-10, 64 off-centre); ``view``: what the backbone
    sees (the transformer's output, or the canvas resized to it without one). The localization
    net is :func:`~stnlib.models.bn_localization` on the canvas pooled 2x (32 -> 16, 64 -> 32);
    ``family``/``init_zoom``: see :class:`~stnlib.models.SpatialTransformer`; ``fill``: ``data.black``.
    """
    backbone = fast_backbone()
    if not stn:
        return STNClassifier(backbone, None, resize=(view, view) if view != in_size else None)
    channels = (16, 32) if in_size <= 32 else (16, 32, 64)
    loc, feats = bn_localization(3, in_size, channels=channels, hidden=64, kernel=3, downsample=2)
    return STNClassifier(backbone, SpatialTransformer(loc, feats, out_size=(view, view), fill=fill, family=family,
                                                      init_zoom=init_zoom))  # fmt: skip


@dataclass(frozen=True)
class FastRecipe:
    """The fast recipe's hyperparameters (module docstring); ``lr`` and ``weight_decay`` are per 1024 images."""

    name: str = "fast (airbench-style)"
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    translate: int = 2
    stn_lr_scale: float = 1.0
    precision: str = "bf16"
    channels_last: bool = True

    def describe(self) -> str:
        stn = f", STN lr x{self.stn_lr_scale:g}" if self.stn_lr_scale != 1 else ""
        return (
            f"{self.name}: Nesterov SGD (momentum {self.momentum:g}), lr {self.lr:g} and weight decay "
            f"{self.weight_decay:g} per 1024 images, batch {self.batch_size}, triangular schedule, label smoothing "
            f"{self.label_smoothing:g}, translate {self.translate} px + alternating flip, lookahead{stn}, "
            f"{self.precision}"
        )


FAST = FastRecipe()


def _param_groups(model: nn.Module, recipe: FastRecipe) -> list[dict]:
    """SGD groups with airbench's decoupled lr/wd: BN shifts (lr x bias_scaler), the rest, the STN."""
    scale = 1024 * (1 + 1 / (1 - recipe.momentum))  # Nesterov steps are this much larger than gradients
    lr, wd = recipe.lr / scale, recipe.weight_decay * recipe.batch_size / scale
    stn = getattr(model, "stn", None)
    stn_ids = {id(p) for p in stn.parameters()} if stn is not None else set()
    norms, stn_params, rest = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in stn_ids:
            stn_params.append(p)
        elif ".bias" in name and p.dim() == 1 and "classifier.0." not in name:
            norms.append(p)  # batch-norm shifts (the whitening bias is classifier.0.bias)
        else:
            rest.append(p)
    lr_b = lr * recipe.bias_scaler
    groups = [
        {"params": norms, "lr": lr_b, "weight_decay": wd / lr_b, "base_lr": lr_b},
        {"params": rest, "lr": lr, "weight_decay": wd / lr, "base_lr": lr},
        {"params": stn_params, "lr": lr * recipe.stn_lr_scale, "weight_decay": wd / lr,
         "base_lr": lr * recipe.stn_lr_scale},  # fmt: skip
    ]
    return [g for g in groups if g["params"]]


def _triangle(step: int, total: int, start: float = 0.2, peak: float = 0.23, end: float = 0.07) -> float:
    top = max(1, int(peak * total))
    if step < top:
        return start + (1 - start) * step / top
    return 1 + (end - 1) * (step - top) / max(1, total - top)


def _batches(x: Tensor, y: Tensor, recipe: FastRecipe, epoch: int, gen: torch.Generator, flip: Tensor):
    """One epoch of shuffled batches, each image shifted by up to ``translate`` px (reflect padding) and
    flipped when ``flip[i]`` differs from the epoch's parity (so every image alternates)."""
    p, (h, w) = recipe.translate, x.shape[-2:]
    order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x) - recipe.batch_size + 1, recipe.batch_size):  # drop the last partial batch
        idx = order[i : i + recipe.batch_size]
        xb, f = x[idx], flip[idx] ^ bool(epoch % 2)
        xb = torch.where(f.to(x.device)[:, None, None, None], xb.flip(-1), xb)
        if p:
            padded = F.pad(xb, (p, p, p, p), mode="reflect")
            dy, dx = torch.randint(0, 2 * p + 1, (2, len(idx)), generator=gen).to(x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
            cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
            batch = torch.arange(len(idx), device=x.device)[:, None, None, None]
            chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
            xb = padded[batch, chans, rows, cols]
        yield xb, y[idx.to(y.device)]


class _FastRun:
    """:func:`train_fast`'s state: data on the device, optimizers, lookahead weights, step and clock."""

    def __init__(self, model: STNClassifier, data: ImageData, recipe: FastRecipe, epochs: float, seed: int) -> None:
        self.device = pick_device()
        model.to(self.device)
        self.model, self.data, self.recipe = model, data, recipe
        self.gen = torch.Generator().manual_seed(seed)
        x, y = ArrayDataset(data.train_images, data.train_labels, mean=data.mean, std=data.std)[:]
        self.x, self.y = x.to(self.device), y.to(self.device)
        init_whitening(model.classifier[0], self.x[:5000])
        if recipe.channels_last:
            model.to(memory_format=torch.channels_last)
        self.steps_per_epoch = len(x) // recipe.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"need at least one batch of {recipe.batch_size} training images, got {len(x)}")
        self.total = max(1, round(epochs * self.steps_per_epoch))
        groups = _param_groups(model, recipe)
        self.opt = torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=recipe.momentum, nesterov=True)
        self.slow = {k: v.detach().clone() for k, v in model.state_dict().items()}  # lookahead's slow weights
        self.flip = torch.rand(len(x), generator=self.gen) < 0.5
        self.amp = autocast(self.device, recipe.precision)
        self.history, self.step, self.elapsed = History(), 0, 0.0

    def train_step(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        """One step at the triangle schedule's lr (then lookahead every 5 steps): ``(summed loss, outputs)``."""
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * _triangle(self.step, self.total)
        if self.recipe.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with self.amp:
            out = self.model(xb)
        loss = F.cross_entropy(out.float(), yb, label_smoothing=self.recipe.label_smoothing, reduction="sum")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        if self.step % 5 == 0 or self.step == self.total:
            decay = 1.0 if self.step == self.total else 0.95**5 * (self.step / self.total) ** 3
            _lookahead(self.model, self.slow, decay)
        return loss, out.detach()

    def epoch(self, epoch: int, epochs: int, progress: bool, evals: dict) -> EpochStats:
        """One epoch (cut short at the last step or a reached target), then an evaluation."""
        self.model.classifier[0].bias.requires_grad_(epoch <= self.recipe.whiten_bias_epochs)
        self.model.train()
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        bar = tqdm(total=min(self.steps_per_epoch, self.total - self.step), desc=f"epoch {epoch}/{epochs}",
                   leave=False, disable=not progress)  # fmt: skip
        for xb, yb in _batches(self.x, self.y, self.recipe, epoch, self.gen, self.flip):
            if self.step >= self.total:
                break
            loss, out = self.train_step(xb, yb)
            loss_sum, correct, seen = loss_sum + loss.item(), correct + int((out.argmax(1) == yb).sum()), seen + len(yb)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", refresh=False)
            if evals["every"] and self.step % evals["every"] == 0 and self.step < self.total:
                now = self.elapsed + _seconds_since(t0, self.device)
                acc = _accuracy(self.model, self.data, exact=evals["exact"], tta=False)
                self.model.train()
                self.history.evals.append(EvalPoint(self.step, now, acc))
                t0 = time.perf_counter() - (now - self.elapsed)  # evaluation time is not training time
                if evals["target"] is not None and acc >= evals["target"]:
                    self.history.stopped_early = f"target {evals['target']:g}% reached after {self.step} steps " + (
                        f"({now:.1f} s)")  # fmt: skip
                    break
        bar.close()
        seconds = _seconds_since(t0, self.device)
        self.elapsed += seconds
        acc = _accuracy(self.model, self.data, exact=evals["exact"], tta=False)
        stats = EpochStats(epoch, self.step, loss_sum / max(seen, 1), 100 * correct / max(seen, 1), None, acc, seconds,
                           self.elapsed, self.opt.param_groups[0]["lr"])  # fmt: skip
        self.history.epochs.append(stats)
        self.history.evals.append(EvalPoint(self.step, self.elapsed, acc))
        return stats


def train_fast(
    model: STNClassifier, data: ImageData, recipe: FastRecipe = FAST, *, epochs: float, seed: int = 0,
    progress: bool = True, eval_exact: bool = True, eval_every_steps: int | None = None,
    target_acc: float | None = None,
) -> History:  # fmt: skip
    """Train ``model`` (from :func:`fast_stn_net`) on ``data`` with the fast recipe for ``epochs`` (may be fractional).

    After each epoch: test accuracy without test-time augmentation (on the exact test images
    only when ``eval_exact`` and some are not exact: cheap and honest). Returns a
    :class:`~stnlib.train.History` (``elapsed``: training seconds, evaluation excluded).
    ``eval_every_steps``: also evaluate every that many steps (into ``History.evals``);
    ``target_acc``: stop at the first evaluation that reaches it (``History.stopped_early``).
    """
    run = _FastRun(model, data, recipe, epochs, seed)
    evals = {"every": eval_every_steps, "exact": eval_exact, "target": target_acc}
    for epoch in range(1, math.ceil(epochs) + 1):
        s = run.epoch(epoch, math.ceil(epochs), progress, evals)
        if progress:
            print(f"epoch {epoch}  step {s.step}  loss {s.train_loss:.3f}  train {s.train_acc:.1f}%  "
                  f"test{' (exact)' if eval_exact else ''} {s.test_acc:.2f}%  {s.seconds:.1f} s "
                  f"(total {s.elapsed:.1f} s)", flush=True)  # fmt: skip
        if run.history.stopped_early or run.step >= run.total:
            break
    model.eval()
    return run.history


def _seconds_since(t0: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


@torch.no_grad()
def _lookahead(model: nn.Module, slow: dict[str, Tensor], decay: float) -> None:
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            slow[k].lerp_(v, 1 - decay)
            v.copy_(slow[k])


@torch.inference_mode()
def predict_tta(model: nn.Module, data: ImageData, *, tta: bool = True, batch_size: int = 1000) -> Tensor:
    """Logits ``(N_test, classes)`` on ``data``'s test set, in fp32; ``tta``: averaged over six views."""
    device = next(model.parameters(), torch.empty(0)).device
    test = ArrayDataset(data.test_images, data.test_labels, mean=data.mean, std=data.std)
    outs = []
    with EvalMode(model):
        for i in range(0, len(test), batch_size):
            x = test[i : i + batch_size][0].to(device)
            if not tta:
                outs.append(model(x).float().cpu())
                continue
            mirror = lambda v: 0.5 * (model(v) + model(v.flip(-1)))  # noqa: E731
            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
            h, w = x.shape[-2:]
            shifted = 0.5 * (mirror(padded[..., :h, :w]) + mirror(padded[..., 2:, 2:]))
            outs.append((0.5 * mirror(x) + 0.5 * shifted).float().cpu())
    return torch.cat(outs)


def exact_test_images(data: ImageData) -> ImageData:
    """``data`` with only its exact test images (all of them when every one is exact)."""
    keep = data.test_is_exact
    if bool(keep.all()):
        return data
    info = dataclasses.replace(data.info, n_test=int(keep.sum()), n_test_exact=int(keep.sum()), exact=True)
    return dataclasses.replace(
        data, test_images=data.test_images[keep], test_labels=data.test_labels[keep], test_is_exact=keep[keep],
        test_params=None, info=info,
    )  # fmt: skip


def _accuracy(model: nn.Module, data: ImageData, *, exact: bool, tta: bool) -> float:
    sub = exact_test_images(data) if exact else data
    pred = predict_tta(model, sub, tta=tta).argmax(1)
    return 100.0 * float((pred == sub.test_labels).float().mean())
