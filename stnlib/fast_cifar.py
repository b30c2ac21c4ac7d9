"""A fast CIFAR-10 network and recipe after Keller Jordan's airbench (arXiv 2404.00498), on any device.

Network (:func:`fast_backbone`): a frozen 2x2 whitening convolution, three groups ``conv3x3 -> maxpool 2 -> BN ->
GELU -> conv3x3 -> BN -> GELU`` (64, 256, 256 channels; BN scale frozen at 1), a global max pool, a linear layer x 1/9;
:func:`fast_stn_net` puts a spatial transformer in front. Recipe (:class:`FastRecipe`, :func:`train_fast`): Nesterov
SGD, BN shifts learning 64x faster, a triangular schedule, label smoothing, lookahead every 5 steps, shifts of up to
2 px and a flip that alternates by epoch. Test time (:func:`predict_tta`): logits averaged over six views.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_bool, check_float, check_int
from .data import ArrayDataset, ImageData
from .env import PRECISIONS, autocast, pick_device, resolve_precision
from .loop import History, Plan, run_plan
from .models import bn_localization
from .recipes import _COUNT, _FRACTION, _NONNEG, _NUMBER, _SIZE, _choice, check_fields, precision_words
from .train import backward_step, grad_scaler, over_batches, to_cpu
from .transformer import SpatialTransformer, STNClassifier

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
    first = (_conv(c_in, c_out), nn.MaxPool2d(2), _BatchNorm(c_out), nn.GELU())
    return nn.Sequential(*first, _conv(c_out, c_out), _BatchNorm(c_out), nn.GELU())


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


def fast_backbone(stride: int = 1) -> nn.Sequential:
    """``(B, 3, 32 * stride, 32 * stride)`` normalized images -> ``(B, 10)`` logits, about 1.97 M parameters. Module
    ``[0]`` is the whitening convolution (2x2 patches; ``stride`` 2 reads a 64x64 canvas's patches side by side), set
    by :func:`init_whitening`."""
    stride = check_int(stride, "stride", min=1, max=2)
    w1, w2, w3 = WIDTHS
    whiten = nn.Conv2d(3, 24, 2, stride=stride, padding=0, bias=True)  # 2 x (3 * 2 * 2) filters
    whiten.weight.requires_grad_(False)
    nn.init.zeros_(whiten.bias)
    groups = (_conv_group(24, w1), _conv_group(w1, w2), _conv_group(w2, w3))
    head = (nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(w3, 10, bias=False), _Scale(1 / 9))
    return nn.Sequential(whiten, nn.GELU(), *groups, *head)


@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: Tensor, eps: float = 5e-4) -> None:
    """Set ``conv`` (``2d`` filters of ``C x k x k``, ``d = C k k``) to whiten ``images`` ``(N, C, H, W)``'s patches:
    the patch covariance's eigenvectors over ``sqrt(eigenvalue + eps)`` (largest first), then their negatives."""
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
    *,
    stn: bool = True,
    fill: float | Sequence[float] | None = None,
    in_size: int = 32,
    view: int = 32,
    family: str = "affine",
    init_zoom: float = 1.0,
) -> STNClassifier:
    """:func:`fast_backbone` with a spatial transformer in front (``stn=False``: the ablation). ``in_size``: the canvas
    (32, or 64 off-centre); ``view``: what the backbone sees (without a transformer, the canvas shrunk by area
    averaging, or at ``view == in_size == 64`` read whole at stride 2); ``fill``: ``data.black``."""
    if not stn:
        if view == in_size and in_size > 32:  # the whole canvas, every pixel once: 2x2 patches at stride 2
            return STNClassifier(fast_backbone(stride=in_size // 32), None)
        return STNClassifier(fast_backbone(), None, resize=(view, view) if view != in_size else None)
    backbone = fast_backbone()
    channels = (16, 32) if in_size <= 32 else (16, 32, 64)
    loc, feats = bn_localization(3, in_size, channels=channels, hidden=64, kernel=3, downsample=2)
    return STNClassifier(
        backbone, SpatialTransformer(loc, feats, out_size=(view, view), fill=fill, family=family, init_zoom=init_zoom)
    )


def _momentum(value: object, name: str) -> float:
    value = check_float(value, name, positive=True)
    if value >= 1:  # Nesterov SGD needs a momentum > 0; the step sizes divide by 1 - momentum
        raise ValueError(f"{name} must be a number in 0 .. 1, both excluded, got {value:g}")
    return value


@dataclass(frozen=True)
class FastRecipe:
    """The fast recipe's hyperparameters; ``lr`` and ``weight_decay`` are per 1024 images; ``precision`` as a
    :class:`~stnlib.recipes.Recipe`'s."""

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
    precision: str = "auto"
    channels_last: bool = True

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "batch_size": _SIZE,
                "lr": _NUMBER,
                "momentum": _momentum,
                "weight_decay": _NONNEG,
                "bias_scaler": _NUMBER,
                "label_smoothing": _FRACTION,
                "whiten_bias_epochs": _COUNT,
                "translate": _COUNT,
                "stn_lr_scale": _NUMBER,
                "precision": _choice(PRECISIONS),
                "channels_last": check_bool,
            },
        )

    def describe(self) -> str:
        stn = f", STN lr x{self.stn_lr_scale:g}" if self.stn_lr_scale != 1 else ""
        return (
            f"{self.name}: Nesterov SGD (momentum {self.momentum:g}), lr {self.lr:g} and weight decay "
            f"{self.weight_decay:g} per 1024 images, batch {self.batch_size}, triangular schedule, label smoothing "
            f"{self.label_smoothing:g}, translate {self.translate} px + alternating flip, lookahead{stn}, "
            f"{precision_words(self.precision) or 'fp32'}"
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
        {"params": norms, "lr": lr_b, "weight_decay": wd / lr_b},
        {"params": rest, "lr": lr, "weight_decay": wd / lr},
        {"params": stn_params, "lr": lr * recipe.stn_lr_scale, "weight_decay": wd / lr},
    ]
    return [g for g in groups if g["params"]]


def _triangle(step: int, total: int, start: float = 0.2, peak: float = 0.23, end: float = 0.07) -> float:
    top = max(1, int(peak * total))
    if step < top:
        return start + (1 - start) * step / top
    return 1 + (end - 1) * (step - top) / max(1, total - top)


def _batches(x: Tensor, y: Tensor, recipe: FastRecipe, epoch: int, gen: torch.Generator, flip: Tensor):
    """One epoch of shuffled batches, each image shifted by up to ``translate`` px (reflect padding) and flipped when
    ``flip[i]`` differs from the epoch's parity."""
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


def _plan(model: STNClassifier, data: ImageData, recipe: FastRecipe, epochs: float, seed: int, exact: bool) -> Plan:
    """The fast recipe as a :class:`~stnlib.loop.Plan`, the training set on the device."""
    device = pick_device()
    model.to(device)
    gen = torch.Generator().manual_seed(seed)
    x, y = ArrayDataset(data.train_images, data.train_labels, mean=data.mean, std=data.std)[:]
    x, y = x.to(device), y.to(device)
    init_whitening(model.classifier[0], x[:5000])
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    per_epoch = len(x) // recipe.batch_size
    if per_epoch < 1:
        raise ValueError(f"need at least one batch of {recipe.batch_size} training images, got {len(x)}")
    total = max(1, round(epochs * per_epoch))
    groups = _param_groups(model, recipe)
    opt = torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=recipe.momentum, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: _triangle(step, total))
    slow = {k: v.detach().clone() for k, v in model.state_dict().items()}  # lookahead's slow weights
    flip = torch.rand(len(x), generator=gen) < 0.5
    precision = resolve_precision(recipe.precision, device)[0]
    if precision == "fp16":  # the loss is a sum over the batch: scale it that much less than a mean
        grad_scaler(opt, device, init_scale=2.0**16 / recipe.batch_size)

    def step(xb: Tensor, yb: Tensor) -> tuple[float, Tensor]:
        with autocast(device, precision):
            out = model(xb)
        loss = F.cross_entropy(out.float(), yb, label_smoothing=recipe.label_smoothing, reduction="sum")
        backward_step(loss, opt, precision)
        sched.step()
        return loss.item(), out.detach()

    def lookahead(step: int) -> None:
        if step % 5 == 0 or step == total:
            _lookahead(model, slow, 1.0 if step == total else 0.95**5 * (step / total) ** 3)

    return Plan(
        opt,
        lambda epoch: _batches(x, y, recipe, epoch, gen, flip),
        per_epoch,
        total,
        step,
        lambda: (None, _accuracy(model, exact_test_images(data) if exact else data)),
        after_step=lookahead,
        begin_epoch=lambda epoch: model.classifier[0].bias.requires_grad_(epoch <= recipe.whiten_bias_epochs),
        test_label="test (exact)" if exact else "test",
    )


def train_fast(
    model: STNClassifier,
    data: ImageData,
    recipe: FastRecipe = FAST,
    *,
    epochs: float,
    seed: int = 0,
    progress: bool = True,
    eval_exact: bool = True,
    eval_every_steps: int | None = None,
    target_acc: float | None = None,
) -> History:
    """Train ``model`` (from :func:`fast_stn_net`) on ``data`` with the fast recipe for ``epochs`` (may be fractional).
    After each epoch (and every ``eval_every_steps``): test accuracy without test-time augmentation, on the exact test
    images only if ``eval_exact``; ``target_acc`` stops at the first evaluation reaching it."""
    plan = _plan(model, data, recipe, epochs, seed, eval_exact)
    limits = {"eval_every_steps": eval_every_steps, "time_budget_s": None, "target_acc": target_acc}
    return run_plan(model, plan, epochs=math.ceil(epochs), callbacks=[], limits=limits, progress=progress)


@torch.no_grad()
def _lookahead(model: nn.Module, slow: dict[str, Tensor], decay: float) -> None:
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            slow[k].lerp_(v, 1 - decay)
            v.copy_(slow[k])


@torch.inference_mode()
def predict_tta(model: nn.Module, data: ImageData, *, tta: bool = True) -> Tensor:
    """Logits ``(N_test, classes)`` on ``data``'s test set, in fp32 on the CPU; ``tta``: averaged over six views."""

    def views(m: nn.Module, x: Tensor) -> Tensor:
        if not tta:
            return to_cpu(m(x))
        mirror = lambda v: 0.5 * (m(v) + m(v.flip(-1)))  # noqa: E731
        padded, (h, w) = F.pad(x, (1, 1, 1, 1), mode="reflect"), x.shape[-2:]
        shifted = 0.5 * (mirror(padded[..., :h, :w]) + mirror(padded[..., 2:, 2:]))
        return to_cpu(0.5 * mirror(x) + 0.5 * shifted)

    return torch.cat(over_batches(model, data.loaders(1000)[1], views)[0])


def exact_test_images(data: ImageData) -> ImageData:
    """``data`` with only its exact test images (all of them when every one is exact)."""
    keep = data.test_is_exact
    if bool(keep.all()):
        return data
    images, labels = data.test_images[keep], data.test_labels[keep]  # ImageData recounts its info
    return dataclasses.replace(data, test_images=images, test_labels=labels, test_is_exact=keep[keep], test_params=None)


def _accuracy(model: nn.Module, data: ImageData) -> float:  # in percent, without test-time augmentation
    pred = predict_tta(model, data, tta=False).argmax(1)
    return 100.0 * float((pred == data.test_labels).float().mean())
