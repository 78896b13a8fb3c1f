"""Pretraining by pace prediction and fine-tuning for action recognition.

Two entry points, each driven by one options dataclass::

    pre = pretrain(PretrainConfig.from_profile("cpu-demo", out_dir="runs/pre"))
    ft = finetune(FinetuneConfig.from_profile("cpu-demo", init=pre["checkpoint"], out_dir="runs/ft"))
    ft["test"]["video_acc"]

Read top to bottom: the configs and their profiles, the optimiser and schedule,
one training step per task, the loop both tasks share, then ``pretrain`` and
``finetune``, each a short story of calls. A step computes the objective with
``pacelib.losses.pretext_loss``, the same function notebook 2 teaches.

A run writes into ``config.out_dir``: ``last.pt`` (the checkpoint, rewritten
atomically every ``save_every`` steps and at the end of every epoch),
``metrics.csv`` or ``metrics.json`` (one row per epoch) and ``config.json``.
``resume=True`` continues from ``last.pt`` exactly where it stopped: on CPU a
run killed mid-epoch and resumed ends with bit-identical weights, because
everything random is a function of ``(seed, epoch, index)`` or is restored from
the checkpoint.

Launched with ``torchrun --nproc_per_node=N``, the same functions train with
DistributedDataParallel: ``batch_size`` is the *global* batch, every rank takes
its slice of it, only rank 0 prints and writes files, and the contrastive losses
see the embeddings of the whole global batch (gathered with gradients).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pacelib.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    write_metrics,
)
from pacelib.config import (
    AugmentOptions,
    DataOptions,
    LabelOptions,
    ModelOptions,
    OptimOptions,
    PretextOptions,
    RuntimeOptions,
    option,
)
from pacelib.datasets import clip_dataset, few_labels, load_split, pace_dataset
from pacelib.distributed import (
    DistInfo,
    ShardedSampler,
    all_reduce_sum,
    amp_dtype,
    gather_with_grad,
    init_distributed,
)
from pacelib.evaluate import evaluate
from pacelib.losses import LossWeights, pretext_loss
from pacelib.models import ActionClassifier, PaceModel, backbone_state_dict, build_backbone
from pacelib.pace import get_spec
from pacelib.synthetic import SynthConfig, default_root, ensure_dataset
from pacelib.transforms import apply_photometric

# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


@dataclass
class RunConfig(RuntimeOptions, OptimOptions, ModelOptions, AugmentOptions, DataOptions):
    """What pretraining and fine-tuning share, and where a run writes."""

    out_dir: str = option("runs/pretrain", "directory for last.pt, metrics and config.json")
    save_every: int = option(0, "also checkpoint every N optimizer steps (0 = end of each epoch only)")
    resume: bool = option(False, "continue from out_dir/last.pt if it exists")
    metrics_format: str = option("csv", "per-epoch metrics file format", ("csv", "json"))

    # Keys that may differ between a checkpoint and the run resuming it.
    RUNTIME_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"resume", "progress", "num_workers", "device", "out_dir", "save_every", "metrics_format"}
    )

    def _check(self) -> None:
        super()._check()
        self._positive("save_every", zero_ok=True)


# The CPU demo recipe, tuned on the synthetic dataset (see benchmarks/learning.py):
# a tiny C3D on 16x56x56 crops of the 64x64 videos, AdamW with warm-up and cosine decay.
# Flips stay off: on the synthetic data a flip turns "left" into "right".
_CPU_DEMO = dict(
    resize=None,
    crop=56,
    crop_scale=(0.75, 1.0),
    flip=False,
    model="c3d_tiny",
    batch_size=16,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-4,
    scheduler="cosine",
    num_workers=0,
    cache_frames=True,
)
_COLAB_GPU = dict(
    model="r2plus1d_18", batch_size=32, num_workers=2, epochs=18, amp="auto", photometric="device"
)


@dataclass
class PretrainConfig(RunConfig, PretextOptions):
    """Pace prediction, optionally with a contrastive term:
    ``L = lambda_cls * L_pace + lambda_ctr * L_ctr`` (``contrastive`` picks L_ctr)."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "cpu-demo": {**_CPU_DEMO, "epochs": 30, "repeat": 2, "warmup_steps": 100, "save_every": 200},
        "colab-gpu": {**_COLAB_GPU, "repeat": 2},
    }

    @property
    def weights(self) -> LossWeights:
        return LossWeights(self.lambda_cls, self.lambda_ctr, self.temperature, self.similarity)


@dataclass
class FinetuneConfig(RunConfig, LabelOptions):
    """Supervised action recognition: conv weights from ``init`` (a pretraining checkpoint),
    a new linear head, the whole network trained. ``init=None`` is the random-init baseline.

    The paper's fine-tuning hyper-parameters are not in its released code; the
    defaults here reuse the pretraining recipe (assumed)."""

    init: str | None = option(None, "pretraining checkpoint for the backbone; None = random init")
    backbone_lr: float | None = option(None, "learning rate of the pretrained layers (None = lr)")
    dropout: float = option(0.5, "dropout before the new linear head")
    test: bool = option(True, "evaluate on the test split after training")
    out_dir: str = option("runs/finetune", "directory for last.pt, metrics, config.json and test.json")

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "cpu-demo": {
            **_CPU_DEMO,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "epochs": 12,
            "repeat": 2,
            "warmup_steps": 20,
            "num_clips": 10,
            "labels_per_class": 20,
        },
        "colab-gpu": _COLAB_GPU,
    }

    def _check(self) -> None:
        super()._check()
        self._positive("backbone_lr")
        if not 0 <= self.dropout < 1:
            self._fail("dropout", "must be in [0, 1)")


# ---------------------------------------------------------------------------
# Optimiser and schedule
# ---------------------------------------------------------------------------


def build_optimizer(cfg: OptimOptions, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """SGD with momentum (the paper) or AdamW (the CPU demo) over parameter groups."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: OptimOptions, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of every group's lr after ``step`` optimizer steps (for ``LambdaLR``).

    Linear warm-up over ``warmup_steps``, then ``step`` (x gamma every
    ``step_epochs`` epochs, as the paper's StepLR), ``cosine`` (to zero at the
    last step) or ``constant``.
    """
    total, warmup = steps_per_epoch * cfg.epochs, cfg.warmup_steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
        if cfg.scheduler == "step":
            return cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch))
        return 1.0

    return factor


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    params: list[nn.Parameter],
    grad_clip: float | None = None,
) -> None:
    """Backpropagate ``loss`` and update: gradient scaling for fp16, optional clipping of ``params``."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()


# ---------------------------------------------------------------------------
# One training step per task. A step returns the loss to backpropagate and named sums
# over the batch's clips; the loop adds them up over an epoch (and over ranks).
# ---------------------------------------------------------------------------


class StepContext(NamedTuple):
    """Where and how a training step runs."""

    device: torch.device
    amp: torch.dtype | None  # autocast dtype, None = off
    channels_last: bool

    def autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None)

    def clips(self, *parts: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Batches of clips on the device, concatenated, in the memory layout the model runs
        fastest in.

        A part is ``float32 (B, C, T, H, W)``, or a pair ``(uint8 clips, jitter params)`` from
        workers that left the photometric half to the device: then it runs here, batched.
        """
        on_device = []
        for x in parts:
            if isinstance(x, (tuple, list)):
                frames, params = (t.to(self.device, non_blocking=True) for t in x)
                on_device.append(apply_photometric(frames, params))
            else:
                on_device.append(x.to(self.device, non_blocking=True))
        x = on_device[0] if len(on_device) == 1 else torch.cat(on_device)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x


Sums = dict[str, float]


def pretext_step(
    model: nn.Module, batch: Any, ctx: StepContext, cfg: PretrainConfig, pace_names: list[str]
) -> tuple[torch.Tensor, Sums]:
    """Pace classification on every clip plus the optional contrastive term.

    ``same_context`` batches hold two clips per video at different paces; the
    model sees ``[clips_a; clips_b]`` in one pass, the layout ``pretext_loss``
    expects. The contrastive term sees the embeddings of every rank (gathered
    with gradients), so its negatives span the global batch.
    """
    if cfg.contrastive == "same_context":
        clip_a, clip_b, label_a, label_b = batch
        clips, labels = ctx.clips(clip_a, clip_b), torch.cat([label_a, label_b])
    else:
        clips, labels = batch
        clips = ctx.clips(clips)
    labels = labels.to(ctx.device, non_blocking=True)
    with ctx.autocast():
        out = model(clips)
    terms = pretext_loss(
        out.logits,
        labels,
        out.embedding,
        contrastive=cfg.contrastive,
        weights=cfg.weights,
        gather=gather_with_grad,
    )
    n = labels.shape[0]
    hit = out.logits.detach().argmax(1) == labels
    sums = {"clips": n, "loss": n * terms.total.item(), "loss_pace": n * terms.pace.item()}
    sums["loss_ctr"] = n * terms.contrastive.item()
    for p, name in enumerate(pace_names):
        sums[f"correct_{name}"] = (hit & (labels == p)).sum().item()
    for p, name in enumerate(pace_names):
        sums[f"count_{name}"] = (labels == p).sum().item()
    return terms.total, sums


def pretext_metrics(sums: Sums, pace_names: list[str]) -> dict[str, float]:
    """An epoch's metrics from its summed ``pretext_step`` sums: mean losses, accuracy, and
    accuracy per pace (NaN for a pace that never came up)."""
    n = sums["clips"]
    metrics = {key: sums[key] / n for key in ("loss", "loss_pace", "loss_ctr")}
    correct = sum(sums[f"correct_{name}"] for name in pace_names)
    metrics["acc"] = correct / max(sum(sums[f"count_{name}"] for name in pace_names), 1)
    for name in pace_names:
        count = sums[f"count_{name}"]
        metrics[f"acc_pace_{name}"] = sums[f"correct_{name}"] / count if count else float("nan")
    return metrics


def supervised_step(model: nn.Module, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, Sums]:
    """Cross-entropy on action labels; sums of the loss and of the correct clips."""
    clips, labels = batch
    clips, labels = ctx.clips(clips), labels.to(ctx.device, non_blocking=True)
    with ctx.autocast():
        logits = model(clips)
    loss = F.cross_entropy(logits.float(), labels)
    n = labels.shape[0]
    correct = (logits.detach().argmax(1) == labels).sum().item()
    return loss, {"clips": n, "loss": n * loss.item(), "correct": correct}


def supervised_metrics(sums: Sums) -> dict[str, float]:
    return {"loss": sums["loss"] / sums["clips"], "acc": sums["correct"] / sums["clips"]}


# ---------------------------------------------------------------------------
# The training loop shared by pretrain and finetune
# ---------------------------------------------------------------------------


def fit(
    cfg: RunConfig,
    kind: str,
    env: DistInfo,
    model: nn.Module,
    dataset: Dataset,
    step: Callable[[nn.Module, Any, StepContext], tuple[torch.Tensor, Sums]],
    summarize: Callable[[Sums], dict[str, float]],
    param_groups: list[dict[str, Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` for ``cfg.epochs``, checkpointing into ``cfg.out_dir``.

    ``step(model, batch, ctx) -> (loss, sums)`` does one forward pass;
    ``summarize(sums) -> metrics`` turns an epoch's summed ``sums`` into metrics.
    ``extra`` goes into the checkpoint. Returns ``{"history", "checkpoint", "metrics", "model"}``.
    """
    out_dir = Path(cfg.out_dir)
    ckpt_path, metrics_path = out_dir / "last.pt", out_dir / f"metrics.{cfg.metrics_format}"
    ctx = StepContext(env.device, amp_dtype(cfg.amp, env.device), cfg.channels_last)
    model.to(env.device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(cfg, param_groups)
    # An epoch is `repeat` passes over the data, each shuffled with its own (seed, pass) order.
    sampler = ShardedSampler(len(dataset), cfg.batch_size, env.world_size, env.rank, cfg.seed)
    per_pass = sampler.num_batches
    if per_pass == 0:
        raise ValueError(
            f"batch_size {cfg.batch_size} is larger than the training set ({len(dataset)} items)"
        )
    steps_per_epoch = per_pass * cfg.repeat
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))
    scaler = torch.amp.GradScaler(env.device.type, enabled=ctx.amp is torch.float16)

    # The epoch's sums travel as a float64 vector (all-reduced over ranks, stored in the
    # checkpoint) whose entries are named by the keys of the step's dict.
    epoch, epoch_step, history, sums, names = 0, 0, [], None, []
    if cfg.resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        check_resumable(cfg, kind, ckpt, ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        epoch, epoch_step, history = ckpt["epoch"], ckpt["epoch_step"], list(ckpt["history"])
        # Rank 0 saved the epoch's partial sums over all ranks; the others restart from zero.
        sums = ckpt["sums"] if ckpt["sums"] is None or env.is_main else torch.zeros_like(ckpt["sums"])
        set_rng_state(ckpt["rng"])
        if epoch >= cfg.epochs:
            _log(env, f"resumed from {_shown(ckpt_path)}: all {cfg.epochs} epochs are done, nothing to train")
        else:
            _log(
                env,
                f"resumed from {_shown(ckpt_path)}: epoch {epoch + 1}, step {epoch_step}/{steps_per_epoch}",
            )
    elif env.is_main:
        if cfg.resume:
            _log(env, f"resume: no checkpoint at {_shown(ckpt_path)} yet, starting from scratch")
        out_dir.mkdir(parents=True, exist_ok=True)
    if env.is_main:
        (out_dir / "config.json").write_text(json.dumps({"kind": kind, **cfg.to_dict()}, indent=2) + "\n")
    net = model
    if env.enabled:
        device_ids = [env.device.index] if env.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def save() -> None:
        # Collective under DDP: every rank reaches the same saves, in the same order.
        total = None if sums is None else all_reduce_sum(sums)
        if env.is_main:
            state = {
                "kind": kind,
                "config": cfg.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(),
                "epoch": epoch,
                "epoch_step": epoch_step,
                "global_step": epoch * steps_per_epoch + epoch_step,
                "history": history,
                "sums": total,
                **extra,
            }
            save_checkpoint(ckpt_path, state)

    loader = train_loader(dataset, sampler, cfg, env)
    params = list(model.parameters())
    while epoch < cfg.epochs:
        net.train()
        bar = tqdm(
            total=steps_per_epoch,
            initial=epoch_step,
            desc=f"{kind} {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=not (env.is_main and cfg.progress),
        )
        started = time.perf_counter()
        for data_pass in range(epoch_step // per_pass, cfg.repeat):
            data_epoch = epoch * cfg.repeat + data_pass  # what item seeds and shuffling depend on
            dataset.set_epoch(data_epoch)
            sampler.set_epoch(data_epoch, skip=epoch_step % per_pass)
            for batch in loader:
                loss, batch_sums = step(net, batch, ctx)
                optimizer_step(loss, optimizer, scaler, params, cfg.grad_clip)
                lr = optimizer.param_groups[-1]["lr"]  # the lr this step used (the head's)
                scheduler.step()
                names = list(batch_sums)
                values = torch.tensor(list(batch_sums.values()), dtype=torch.float64)
                sums = values if sums is None else sums + values
                epoch_step += 1
                bar.update()
                bar.set_postfix(loss=f"{sums[1].item() / sums[0].item():.3f}", refresh=False)
                global_step = epoch * steps_per_epoch + epoch_step
                if cfg.save_every and global_step % cfg.save_every == 0 and epoch_step < steps_per_epoch:
                    save()
        bar.close()
        metrics = summarize(dict(zip(names, all_reduce_sum(sums).tolist())))
        row = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "lr": lr}
        history.append({**row, **metrics, "time_s": round(time.perf_counter() - started, 2)})
        epoch, epoch_step, sums = epoch + 1, 0, None
        save()
        if env.is_main:
            write_metrics(metrics_path, history)
            _log(env, _format_row(kind, cfg.epochs, history[-1]))
    if env.enabled:
        # DDP syncs parameters, but each rank's last forward updated its own BatchNorm
        # statistics: give every rank rank 0's, so all of them return the checkpointed model.
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, 0)
    return {"history": history, "checkpoint": str(ckpt_path), "metrics": str(metrics_path), "model": model}


def train_loader(dataset: Dataset, sampler: ShardedSampler, cfg: RunConfig, env: DistInfo) -> DataLoader:
    """The training ``DataLoader``: this rank's share of every global batch, from ``cfg.num_workers``
    persistent workers, pinned when the batches go to a GPU."""
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size // env.world_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        pin_memory=env.device.type == "cuda",
        # Persistent workers keep their frame caches; set_epoch reaches them through shared memory.
        persistent_workers=cfg.num_workers > 0,
        # Its own generator: starting an epoch must not consume the global RNG,
        # or a run resumed mid-epoch would diverge from an uninterrupted one.
        generator=torch.Generator().manual_seed(cfg.seed),
    )


def check_resumable(cfg: RunConfig, kind: str, ckpt: Mapping[str, Any], path: Path) -> None:
    """Refuse to resume from another kind of run or from a run with other (non-runtime) options."""
    if ckpt.get("kind") != kind:
        raise ValueError(f"cannot resume {kind} from {path}: it is a {ckpt.get('kind')} checkpoint")
    # An option newer than the checkpoint counts as set to its default there.
    saved, now, default = ckpt["config"], cfg.to_dict(), type(cfg)().to_dict()
    saved = {**default, **saved}
    changed = sorted(k for k in now if k not in cfg.RUNTIME_KEYS and saved[k] != now[k])
    if changed:
        diffs = ", ".join(f"{k}: {saved[k]!r} -> {now[k]!r}" for k in changed)
        raise ValueError(f"cannot resume from {path}: the config changed ({diffs}); use a new out_dir")


def _shown(path: Path) -> str:
    """``path`` as a log line shows it: relative to the working directory when it is near
    (``../runs/x/last.pt`` from a notebook), so logs do not leak the machine's folders."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


def _log(env: DistInfo, message: str) -> None:
    """Print on rank 0 only (through tqdm, so a progress bar is not broken)."""
    if env.is_main:
        tqdm.write(message, file=sys.stdout)
        sys.stdout.flush()


def _format_row(kind: str, epochs: int, row: dict[str, Any]) -> str:
    parts = [f"{kind} epoch {row['epoch']}/{epochs}"]
    parts += [f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step") and isinstance(v, float)]
    return "  ".join(parts)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def pretrain(config: PretrainConfig | Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """Self-supervised pretraining by pace prediction (plus an optional contrastive term).

    ``config``: a ``PretrainConfig``, a dict of its fields, or a YAML/JSON file.
    The training split's videos are used without their labels. Returns
    ``{"history": [per-epoch metrics], "checkpoint": path, "metrics": path,
    "model": PaceModel}``; metrics hold ``loss``, ``loss_pace``, ``loss_ctr``,
    ``acc`` and ``acc_pace_<p>`` for each pace ``p``.
    """
    cfg = PretrainConfig.load(config)
    env = init_distributed(cfg.device)
    seed_everything(cfg.seed)
    spec = get_spec(cfg.pace)
    dataset = pace_dataset(load_split(cfg, train=True), cfg)
    # Pace-only training has no projection head: DDP would complain about unused parameters.
    proj_dim = cfg.proj_dim if cfg.contrastive != "none" else None
    model = PaceModel(build_backbone(cfg.model, **cfg.model_args), spec.num_classes, proj_dim=proj_dim)
    return fit(
        cfg,
        "pretrain",
        env,
        model,
        dataset,
        step=lambda net, batch, ctx: pretext_step(net, batch, ctx, cfg, spec.names),
        summarize=lambda sums: pretext_metrics(sums, spec.names),
        param_groups=[{"params": list(model.parameters())}],
        extra={"pace_names": spec.names},
    )


def finetune(config: FinetuneConfig | Mapping[str, Any] | str | os.PathLike) -> dict[str, Any]:
    """Fine-tune for action recognition: the paper's transfer protocol.

    The backbone's weights come from ``config.init`` (a pretraining checkpoint;
    ``None`` keeps the random init, the baseline), a new linear layer is added,
    and the whole network is trained on the training split (optionally only
    ``labels_per_class`` videos per class). With ``config.test`` the result is
    evaluated on the test split (K = ``num_clips`` clips per video).
    Returns ``{"history", "checkpoint", "metrics", "model", "test"}``.
    """
    cfg = FinetuneConfig.load(config)
    env = init_distributed(cfg.device)
    seed_everything(cfg.seed)
    train_videos, test_videos = load_split(cfg, train=True), load_split(cfg, train=False)
    num_classes = 1 + max(v.label for v in [*train_videos, *test_videos])
    if cfg.labels_per_class is not None:
        train_videos = few_labels(train_videos, cfg.labels_per_class, cfg.seed)
    backbone = build_backbone(cfg.model, **cfg.model_args)
    if cfg.init is not None:
        ckpt = load_checkpoint(cfg.init)
        for key in ("model", "model_args"):
            if ckpt["config"].get(key) != getattr(cfg, key):
                raise ValueError(
                    f"init checkpoint {cfg.init} was trained with {key}={ckpt['config'].get(key)!r}, "
                    f"but this run has {key}={getattr(cfg, key)!r}"
                )
        backbone.load_state_dict(backbone_state_dict(ckpt["model"]))
    model = ActionClassifier(backbone, num_classes, dropout=cfg.dropout)
    groups = [
        {"params": list(model.backbone.parameters()), "lr": cfg.backbone_lr or cfg.lr},
        {"params": list(model.fc.parameters()), "lr": cfg.lr},
    ]
    class_names = [""] * num_classes
    for v in test_videos:
        class_names[v.label] = v.class_name
    result = fit(
        cfg,
        "finetune",
        env,
        model,
        clip_dataset(train_videos, cfg, train=True),
        step=supervised_step,
        summarize=supervised_metrics,
        param_groups=groups,
        extra={"num_classes": num_classes, "class_names": class_names},
    )
    if cfg.test:
        result["test"] = evaluate(
            model,
            clip_dataset(test_videos, cfg, train=False, num_clips=cfg.num_clips),
            batch_size=max(1, cfg.batch_size // cfg.num_clips),
            device=env.device,
            amp=cfg.amp,
            num_workers=cfg.num_workers,
            progress=cfg.progress and env.is_main,
        )
        if env.is_main:
            (Path(cfg.out_dir) / "test.json").write_text(json.dumps(result["test"], indent=2) + "\n")
            acc = result["test"]
            _log(env, f"test: clip accuracy {acc['clip_acc']:.2%}, video accuracy {acc['video_acc']:.2%}")
    return result


def model_from_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint (eval mode on ``device``).

    A pretraining checkpoint gives a ``PaceModel``, a fine-tuning one an
    ``ActionClassifier``. Returns ``(model, checkpoint dict)``.
    """
    ckpt = load_checkpoint(path)
    cfg = ckpt["config"]
    backbone = build_backbone(cfg["model"], **cfg.get("model_args", {}))
    if ckpt.get("kind") == "pretrain":
        proj_dim = cfg["proj_dim"] if cfg.get("contrastive", "none") != "none" else None
        model: nn.Module = PaceModel(backbone, len(ckpt["pace_names"]), proj_dim=proj_dim)
    elif ckpt.get("kind") == "finetune":
        model = ActionClassifier(backbone, ckpt["num_classes"], dropout=cfg.get("dropout", 0.0))
    else:
        raise ValueError(f"{path}: unknown checkpoint kind {ckpt.get('kind')!r}")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not match {cfg['model']}: {str(err).splitlines()[0]}") from None
    return model.to(device).eval(), ckpt


# ---------------------------------------------------------------------------
# The notebooks' runs
# ---------------------------------------------------------------------------

# The larger synthetic set for a GPU without UCF101: 128x128 frames (so 112x112 crops need no
# resize), 3x the videos of the default set. Generated once (a few minutes on Colab's CPUs).
LARGE_SYNTH = SynthConfig(train_per_class=200, test_per_class=40, size=128)


def notebook_config(kind: str, seed: int = 0, cpu_epochs: int | None = None, **overrides: Any) -> RunConfig:
    """The run a course notebook trains: ``kind`` is ``"pretrain"`` or ``"finetune"``.

    Without a GPU: the ``cpu-demo`` profile on the default synthetic data, for
    ``cpu_epochs`` epochs when given. With one: the ``colab-gpu`` profile on UCF101
    when ``$PACELIB_UCF101`` (default ``data/UCF101``) holds it, else on a larger synthetic
    set (flips off: on synthetic data a flip turns "left" into "right"). The output folder
    is ``runs/<kind>_<profile>_<data>``; progress bars show only on Colab.
    """
    config_cls = {"pretrain": PretrainConfig, "finetune": FinetuneConfig}[kind]
    data = default_root().parent
    ucf101 = Path(os.environ.get("PACELIB_UCF101", data / "UCF101"))
    if not torch.cuda.is_available():
        profile, tag, run = "cpu-demo", "synthetic", {"data_root": None}
        if cpu_epochs is not None and kind == "pretrain":
            run["epochs"] = cpu_epochs
    elif any((ucf101 / d / "classInd.txt").is_file() for d in ("splits", "ucfTrainTestlist")):
        profile, tag, run = "colab-gpu", "ucf101", {"data_root": str(ucf101)}
    else:
        large = ensure_dataset(data / "synthetic_large", config=LARGE_SYNTH)
        profile, tag, run = (
            "colab-gpu",
            "synthetic_large",
            dict(data_root=str(large), resize=None, flip=False),
        )
    return config_cls.from_profile(
        profile,
        seed=seed,
        out_dir=str(data.parent / "runs" / f"{kind}_{profile}_{tag}"),
        progress="google.colab" in sys.modules,
        **{**run, **overrides},
    )
