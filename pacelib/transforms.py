"""Clip-level augmentation: geometric in the DataLoader's workers, photometric wherever the clip is.

Every transform here maps decoded frames, ``uint8 (T, H, W, 3)``, to a model
clip, ``float32 (C, T, H, W)``, in two halves:

* **Geometric** (crop, flip) on uint8 frames with ``torchvision.transforms.v2``.
  Inside, the frames are a ``(T, C, H, W)`` tensor; v2 treats the leading ``T`` as
  a batch dimension and draws *one* set of random parameters per call, so every
  frame of a clip gets the same crop and flip. That consistency matters: a crop
  that jumps from frame to frame would be motion the model could learn.
* **Photometric** (colour jitter, then normalisation) by ``apply_photometric``,
  which takes uint8 clips and a small tensor of parameters, works on a clip or a
  batch on any device, and draws nothing itself. The parameters (``draw_jitter``)
  are drawn in the worker right after the crop and flip.

So ``train_transform(photometric_on_device=True)`` can stop after the geometric
half and return ``(uint8 clip, params)``: workers ship four times fewer bytes, and
the training step applies the jitter to the whole batch on the GPU. Both ways give
the same clip; on the CPU bit for bit, since the worker path calls the same
``apply_photometric``. On the CPU that is one compiled loop (numba) that converts,
jitters and normalises a frame at a time, a few percent of a worker's time per clip;
on a GPU it is batched torch ops. The two agree to float rounding.

Randomness comes from torch's global generator, as in torchvision. The
datasets seed it per item (see ``pacelib.datasets``), so clips are repeatable.

    >>> clip = train_transform(crop=56, flip=False)(torch.zeros(16, 64, 64, 3, dtype=torch.uint8))
    >>> clip.shape, clip.dtype
    (torch.Size([3, 16, 56, 56]), torch.float32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import torch
from torchvision.transforms import v2

# The usual video normalisation (PyTorchVideo's): intensities in [0, 1], then (x - 0.45) / 0.225.
MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)

# Photometric parameters: one row of 8 floats per frame.
#   0 brightness factor, 1 contrast factor, 2 saturation factor (each >= 0; 1 = unchanged),
#   3 hue shift in turns, in [-0.5, 0.5] (0 = unchanged),
#   4-7 the order: the op ids (0 brightness, 1 contrast, 2 saturation, 3 hue) in the order applied.
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
NUM_PARAMS = 8
NO_JITTER = (1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 2.0, 3.0)
GRAY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


class ToTCHW(torch.nn.Module):
    """Check decoded frames and lay them out for v2: ``uint8 (T, H, W, 3)`` -> ``(T, 3, H, W)``."""

    def forward(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"expected decoded frames uint8 (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}"
            )
        return frames.permute(0, 3, 1, 2)


class NormalizeClip(torch.nn.Module):
    """``(T, C, H, W)`` frames, uint8 or float in [0, 1] -> normalised ``float32 (C, T, H, W)``.

    One conversion-with-transpose and two in-place ops instead of torchvision's
    ``ToDtype`` + ``Normalize`` + a transpose: elementwise passes are most of
    the cost of a small clip's transform.
    """

    def __init__(self, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> None:
        super().__init__()
        self.mean, self.std = tuple(mean), tuple(std)
        self.inv_std, self.shift = _normalization(self.mean, self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.inv_std / 255 if x.dtype == torch.uint8 else self.inv_std
        clip = x.permute(1, 0, 2, 3).to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return clip.mul_(scale).sub_(self.shift)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def _normalization(
    mean: Sequence[float], std: Sequence[float], device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``1 / std`` and ``mean / std`` as float32 ``(C, 1, 1, 1)``: x -> x * inv_std - shift."""
    shape = (len(mean), 1, 1, 1)
    inv_std = 1 / torch.tensor(tuple(std), dtype=torch.float32, device=device).view(shape)
    return inv_std, torch.tensor(tuple(mean), dtype=torch.float32, device=device).view(shape) * inv_std


class ShortSideAtLeast(torch.nn.Module):
    """Upscale (keeping the aspect ratio) only if the short side is below ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= self.size:
            return x
        return v2.functional.resize(x, self.size, antialias=True)


# ---------------------------------------------------------------------------
# Photometric: colour jitter as torchvision's ColorJitter, and normalisation


def draw_jitter(
    num_frames: int,
    strengths: Sequence[float],
    p: float = 1.0,
    per_frame: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random colour-jitter parameters, ``float32 (num_frames, NUM_PARAMS)``.

    As ``torchvision.transforms.ColorJitter(*strengths)`` draws them: brightness,
    contrast and saturation factors uniform in ``[max(0, 1 - s), 1 + s]``, a hue
    shift uniform in ``[-h, h]``, the four ops in a random order. With probability
    ``1 - p`` a draw is no jitter at all, as ``RandomApply([ColorJitter], p)``.
    One draw for the whole clip, or one per frame (``per_frame``), as the paper's
    code does. A strength of 0 gives the neutral factor, so that op is skipped.
    """
    b, c, s, h = strengths
    rows = num_frames if per_frame else 1
    low = torch.tensor([max(0.0, 1 - b), max(0.0, 1 - c), max(0.0, 1 - s), -h])
    high = torch.tensor([1 + b, 1 + c, 1 + s, h])
    factors = low + (high - low) * torch.rand(rows, 4, generator=generator)
    order = torch.rand(rows, 4, generator=generator).argsort(dim=1)  # a uniform random permutation
    params = torch.cat([factors, order.float()], dim=1)
    if p < 1:
        params[torch.rand(rows, generator=generator) >= p] = torch.tensor(NO_JITTER)
    return params.expand(num_frames, NUM_PARAMS).contiguous()


def apply_photometric(
    clips: torch.Tensor,
    params: torch.Tensor,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
) -> torch.Tensor:
    """Colour jitter, then normalisation: ``uint8 (..., C, T, H, W)`` -> ``float32 (..., C, T, H, W)``.

    ``params`` is ``float32 (..., T, NUM_PARAMS)``, a row per frame (see ``draw_jitter``;
    ``NO_JITTER`` rows leave a frame's colours alone). Frame by frame, the ops run in the
    row's order, each as torchvision's functional op on intensities in [0, 1] does it, up
    to float rounding (tests/test_transforms.py: within 2e-5):

    * brightness ``b``: ``x * b``;
    * contrast ``c``: ``x * c + (1 - c) * mean grey level of the frame``;
    * saturation ``s``: ``x * s + (1 - s) * the pixel's grey level``;
    * hue ``h``: rotate the HSV hue by ``h`` turns (value and saturation kept);

    each clamped to [0, 1]; then ``(x - mean) / std`` per channel. Works on a clip or a
    batch, on the tensors' device, with no randomness of its own. Without jitter the result
    is bit-identical to ``NormalizeClip``'s.
    """
    if clips.dtype != torch.uint8 or clips.ndim < 4 or clips.shape[-4] != len(mean):
        raise ValueError(
            f"expected uint8 clips (..., C={len(mean)}, T, H, W), got {clips.dtype} {tuple(clips.shape)}"
        )
    *lead, channels, frames, height, width = clips.shape
    if tuple(params.shape) != (*lead, frames, NUM_PARAMS) or not params.is_floating_point():
        raise ValueError(
            f"expected float params {(*lead, frames, NUM_PARAMS)} for clips {tuple(clips.shape)}, "
            f"got {params.dtype} {tuple(params.shape)}"
        )
    inv_std, shift = _normalization(mean, std, clips.device)
    params = params.to(clips.device, torch.float32)
    if bool((params == params.new_tensor(NO_JITTER)).all()):
        x = clips.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return x.mul_(inv_std / 255).sub_(shift)
    n = int(np.prod(lead, dtype=np.int64))
    if clips.device.type == "cpu":
        out = torch.empty((n, channels, frames, height * width), dtype=torch.float32)
        _photometric_frames(
            clips.reshape(n, channels, frames, height * width).contiguous().numpy(),
            params.reshape(n, frames, NUM_PARAMS).contiguous().numpy(),
            (inv_std / 255).flatten().numpy(),
            shift.flatten().numpy(),
            out.numpy(),
        )
        return out.view(clips.shape)
    # On other devices, batched torch ops on intensities 0..255 laid out (C, N, T, H, W), so that
    # every colour plane is one (N * T, H, W) stack of frames: the per-frame ops broadcast over
    # it, and the frames due for a hue shift are gathered from it with one index.
    x = torch.empty((channels, n, frames, height, width), dtype=torch.float32, device=clips.device)
    x.copy_(clips.reshape(n, channels, frames, height, width).movedim(1, 0))
    _jitter_batched(x.view(channels, n * frames, height, width), params.reshape(n * frames, NUM_PARAMS))
    if n == 1:  # already in the clip's layout
        return x.view(clips.shape).mul_(inv_std / 255).sub_(shift)
    out = torch.empty((n, channels, frames, height, width), dtype=torch.float32, device=clips.device)
    torch.mul(x.movedim(0, 1), inv_std / 255, out=out).sub_(shift)
    return out.view(clips.shape)


# The CPU kernel: frame by frame, the conversion to float, the frame's four ops in its own
# order and the normalisation, each one pass over pixels that stay in the cache, with nothing
# allocated. On a worker's 16x112x112 clip the jitter costs 0.16 ms this way and 3.3 ms as the
# torch ops below (benchmarks/RESULTS.md). numba compiles it on first use (about a second) and
# caches the machine code beside this file. Without fastmath LLVM neither fuses a * b + c into
# an FMA nor reorders a sum, so the vector loop and its scalar tail round alike: a frame comes
# out bit-identical in a worker (one clip) and in a batch. Only the grey mean may reorder its
# float64 sum ("reassoc"), and that order depends on the frame's size alone.

_GREY = tuple(np.float32(w) for w in GRAY)
_CONSTANTS = tuple(np.float32(v) for v in (0, 1, 2, 4, 6, 255))  # float32, so nothing is widened


@numba.njit(nogil=True, cache=True)
def _photometric_frames(
    clips: np.ndarray, params: np.ndarray, scale: np.ndarray, shift: np.ndarray, out: np.ndarray
) -> None:
    """``apply_photometric`` on the CPU: uint8 ``clips`` ``(N, 3, T, P)``, ``params``
    ``(N, T, 8)`` -> ``out`` float32 ``(N, 3, T, P)``: jittered, then ``x * scale - shift``."""
    for n in range(clips.shape[0]):
        for t in range(clips.shape[2]):
            for c in range(3):
                src, dst = clips[n, c, t], out[n, c, t]
                for i in range(dst.size):
                    dst[i] = src[i]
            _jitter_frame(out[n, 0, t], out[n, 1, t], out[n, 2, t], params[n, t])
            for c in range(3):
                dst, a, z = out[n, c, t], scale[c], shift[c]
                for i in range(dst.size):
                    dst[i] = dst[i] * a - z


@numba.njit(nogil=True, cache=True)
def _jitter_frame(r: np.ndarray, g: np.ndarray, b: np.ndarray, params: np.ndarray) -> None:
    """Jitter one frame's float32 planes ``(P,)``, holding 0..255, in place; ``params`` ``(8,)``."""
    zero, one, two, four, six, top = _CONSTANTS
    for k in range(4):
        op = int(params[4 + k])
        factor = params[op]
        if op == BRIGHTNESS and factor != 1:
            for i in range(r.size):
                r[i] = _clamp(r[i] * factor, zero, top)
                g[i] = _clamp(g[i] * factor, zero, top)
                b[i] = _clamp(b[i] * factor, zero, top)
        elif op == CONTRAST and factor != 1:
            base = (one - factor) * _mean_grey(r, g, b)
            for i in range(r.size):
                r[i] = _clamp(r[i] * factor + base, zero, top)
                g[i] = _clamp(g[i] * factor + base, zero, top)
                b[i] = _clamp(b[i] * factor + base, zero, top)
        elif op == SATURATION and factor != 1:
            w = one - factor
            for i in range(r.size):
                grey = w * (_GREY[0] * r[i] + _GREY[1] * g[i] + _GREY[2] * b[i])
                r[i] = _clamp(r[i] * factor + grey, zero, top)
                g[i] = _clamp(g[i] * factor + grey, zero, top)
                b[i] = _clamp(b[i] * factor + grey, zero, top)
        elif op == HUE and factor != 0:
            # As _rotate_hue below: the hue p in sixths of a turn, shifted; then each channel
            # from how far p lies past that channel's peak (red 0, green 2, blue 4).
            turn = factor * six
            for i in range(r.size):
                x, y, z = r[i], g[i], b[i]
                hi, lo = max(max(x, y), z), min(min(x, y), z)
                chroma = hi - lo
                safe = chroma if chroma > zero else one  # grey pixels: p = 0, and C = 0 keeps them
                if hi == x:
                    p = (y - z) / safe
                elif hi == y:
                    p = (z - x) / safe + two
                else:
                    p = (x - y) / safe + four
                p += turn
                p -= six * np.floor(p / six)  # into [0, 6]
                r[i] = _hue_channel(p, hi, chroma)
                g[i] = _hue_channel(p - two if p >= two else p + four, hi, chroma)
                b[i] = _hue_channel(p - four if p >= four else p + two, hi, chroma)


@numba.njit(inline="always")
def _clamp(v: np.float32, low: np.float32, high: np.float32) -> np.float32:
    return min(max(v, low), high)


@numba.njit(inline="always")
def _hue_channel(q: np.float32, hi: np.float32, chroma: np.float32) -> np.float32:
    """A channel's value when the hue lies ``q`` sixths of a turn past its peak, ``q`` in [0, 6]:
    ``max - C * clamp(d - 1, 0, 1)``, ``d`` the distance to the peak around the circle."""
    zero, one, _, _, six, _ = _CONSTANTS
    return hi - chroma * _clamp(min(q, six - q) - one, zero, one)


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def _mean_grey(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.float32:
    total = 0.0
    for i in range(r.size):
        total += _GREY[0] * r[i] + _GREY[1] * g[i] + _GREY[2] * b[i]
    return np.float32(total / r.size)


# The torch version, for batches on a GPU. It uses no fused multiply-adds (alpha=, addcmul) whose
# product is inexact: the CPU kernels compute those with an FMA in their vector loop and without
# one in the scalar tail, so on the CPU its frames would depend on the batch they came in.


def _jitter_batched(planes: torch.Tensor, params: torch.Tensor) -> None:
    """Jitter ``planes``, float ``(3, F, H, W)`` holding 0..255, in place; ``params`` ``(F, 8)``.

    Frames may run the ops in different orders, so the work goes in four rounds: in round
    ``k`` every frame does its ``k``-th op. Brightness, contrast and saturation are all
    ``x * gain + w_grey * grey(x) + w_mean * mean(grey(x))`` with per-frame weights, so one
    pass does them for every frame at once (a frame whose op this round is hue gets gain 1,
    weights 0: unchanged); then the frames due for hue are shifted.
    """
    factors, order = params[:, :4], params[:, 4:].long()
    one, zero = torch.ones_like(factors[:, 0]), torch.zeros_like(factors[:, 0])
    b, c, s, h = factors.unbind(1)

    def per_round(by_op):  # (F, 4) indexed by op -> (F, 4) indexed by round
        return torch.stack(by_op, dim=1).gather(1, order)

    gain = per_round([b, c, s, one])
    w_grey = per_round([zero, zero, 1 - s, zero])
    w_mean = per_round([zero, 1 - c, zero, zero])
    hue = per_round([zero, zero, zero, h])
    # Which rounds have any work of each kind (one device sync for all of them).
    needed = [(gain != 1).any(0), (w_grey != 0).any(0) | (w_mean != 0).any(0), (hue != 0).any(0)]
    scales, greys, hues = torch.stack(needed).tolist()
    r, g, bl = planes.unbind(0)
    grey, tmp = torch.empty((2, *r.shape), dtype=planes.dtype, device=planes.device).unbind(0)
    for k in range(4):
        per_frame = (-1, 1, 1)
        if greys[k]:
            torch.mul(r, GRAY[0], out=grey)
            grey.add_(torch.mul(g, GRAY[1], out=tmp)).add_(torch.mul(bl, GRAY[2], out=tmp))
            base = grey.mean((1, 2), keepdim=True).mul_(w_mean[:, k].view(per_frame))
            grey.mul_(w_grey[:, k].view(per_frame)).add_(base)
            planes.mul_(gain[:, k].view(per_frame)).add_(grey).clamp_(0, 255)
        elif scales[k]:
            planes.mul_(gain[:, k].view(per_frame)).clamp_(0, 255)
        if hues[k]:
            due = (hue[:, k] != 0).nonzero().squeeze(1)
            if len(due) == len(hue):  # every frame: no gather and scatter
                planes.copy_(_rotate_hue(planes, hue[:, k]))
            else:
                planes.index_copy_(1, due, _rotate_hue(planes.index_select(1, due), hue[due, k]))


def _rotate_hue(planes: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Shift the HSV hue of float ``(3, K, H, W)`` frames by ``turns`` ``(K,)``, as torchvision's
    ``adjust_hue`` does, without its HSV round trip.

    A hue rotation keeps each pixel's max and min channel. The hue, in sixths of a turn, is
    ``(g - b) / C`` if red is the max, ``2 + (b - r) / C`` if green is, ``4 + (r - g) / C`` if
    blue is (``C = max - min``); channel ``n`` of hue ``p`` is ``max - C * clamp(d - 1, 0, 1)``
    with ``d`` the distance from ``p - 2n`` to the nearest multiple of 6. Comparisons and
    ``where`` are slow on the CPU, so which channel is the max comes from signs instead.
    """
    r, g, b = planes.unbind(0)
    scratch = torch.empty((6, *r.shape), dtype=planes.dtype, device=planes.device)
    hi, lo, chroma, pos, t1, t2 = scratch.unbind(0)
    torch.maximum(torch.maximum(r, g, out=hi), b, out=hi)
    torch.minimum(torch.minimum(r, g, out=lo), b, out=lo)
    torch.sub(hi, lo, out=chroma)
    # The hue times C: g - b where red is the max, 2C + b - r where green is, 4C + r - g where
    # blue is. sign(hi - x) is 0 where channel x is the max and 1 elsewhere: blend the blue
    # branch over the green one with sign(hi - g), then that over the red one with sign(hi - r).
    # (Every alpha= and addcmul here multiplies exactly: by 2, by a sign, by 6 times an integer.)
    torch.sub(b, r, out=t1).add_(chroma, alpha=2)
    torch.sub(r, g, out=pos).add_(r).sub_(b).add_(chroma, alpha=2)
    t1.addcmul_(pos, torch.sub(hi, g, out=t2).sign_())
    torch.sub(g, b, out=pos)
    pos.addcmul_(t1.sub_(pos), torch.sub(hi, r, out=t2).sign_())
    pos.div_(torch.clamp(chroma, min=torch.finfo(planes.dtype).tiny, out=t1))  # grey pixels: 0 / tiny
    pos.add_((turns * 6).view(-1, 1, 1))
    pos.sub_(torch.mul(pos, 1 / 6, out=t1).floor_(), alpha=6)  # into [0, 6)
    # Red at 0, green at 2 (= -4), blue at 4 (= -2); k is in [0, 10).
    k = torch.add(pos, torch.tensor([0.0, 4.0, 2.0], device=pos.device).view(3, 1, 1, 1))
    dist = torch.minimum(k, torch.sub(k, 6).abs_(), out=k)
    return torch.sub(hi, dist.sub_(1).clamp_(0, 1).mul_(chroma))


# ---------------------------------------------------------------------------
# Whole transforms


class ClipTransform(torch.nn.Module):
    """Decoded frames -> geometric steps (uint8) -> photometric parameters -> ``apply_photometric``.

    ``forward(frames)`` returns the normalised ``float32 (C, T, h, w)`` clip, or, with
    ``photometric_on_device``, the pair ``(uint8 (C, T, h, w), float32 (T, NUM_PARAMS))``
    for the training step to finish with ``apply_photometric`` on its device.
    """

    def __init__(
        self,
        geometric: Sequence[torch.nn.Module],
        jitter: tuple[float, float, float, float] | None = None,
        jitter_p: float = 1.0,
        per_frame_jitter: bool = False,
        mean: Sequence[float] = MEAN,
        std: Sequence[float] = STD,
        photometric_on_device: bool = False,
    ) -> None:
        super().__init__()
        self.geometric = v2.Compose([ToTCHW(), *geometric])
        self.jitter, self.jitter_p, self.per_frame_jitter = jitter, jitter_p, per_frame_jitter
        self.mean, self.std = tuple(mean), tuple(std)
        self.photometric_on_device = photometric_on_device

    def forward(self, frames: torch.Tensor | np.ndarray):
        clip = self.geometric(frames).permute(1, 0, 2, 3)  # uint8 (C, T, h, w)
        num_frames = clip.shape[1]
        if self.jitter is None:
            params = torch.tensor(NO_JITTER).expand(num_frames, NUM_PARAMS).contiguous()
        else:
            params = draw_jitter(num_frames, self.jitter, self.jitter_p, self.per_frame_jitter)
        if self.photometric_on_device:
            return clip.contiguous(), params
        return apply_photometric(clip, params, self.mean, self.std)

    def extra_repr(self) -> str:
        jitter = (
            "off"
            if self.jitter is None
            else f"{self.jitter}, p={self.jitter_p}, per_frame={self.per_frame_jitter}"
        )
        return f"jitter={jitter}, mean={self.mean}, std={self.std}, photometric_on_device={self.photometric_on_device}"


def train_transform(
    crop: int | tuple[int, int] = 112,
    scale: tuple[float, float] = (0.5, 1.0),
    flip: bool = True,
    jitter: float | tuple[float, float, float, float] = 0.0,
    per_frame_jitter: bool = False,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    jitter_p: float = 1.0,
    photometric_on_device: bool = False,
) -> ClipTransform:
    """Training augmentation: ``uint8 (T, H, W, 3)`` -> ``float32 (C, T, crop, crop)``.

    A random resized crop (area fraction in ``scale``) and an optional horizontal
    flip, shared by every frame of the clip, an optional colour jitter, then
    normalisation.

    Args:
        crop: output size, an int or ``(height, width)``.
        scale: range of the crop's area as a fraction of the frame.
        flip: random horizontal flip with probability 1/2. Turn it off for
            direction-sensitive labels: on the synthetic dataset a flip turns
            ``TranslateLeft`` into ``TranslateRight`` and clockwise into
            anticlockwise, so it would teach the model the wrong label.
        jitter: colour jitter strength ``s`` (brightness, contrast and
            saturation by up to ``s``, hue by up to ``s/4``), or a
            ``(brightness, contrast, saturation, hue)`` tuple; 0 turns it off.
        per_frame_jitter: draw the jitter for every frame separately, as the
            original pace-prediction code did, instead of once per clip.
        mean, std: per-channel normalisation of intensities in [0, 1].
        jitter_p: probability of jittering at all (per draw); the paper's code uses 0.8.
        photometric_on_device: stop after crop and flip and return ``(uint8 clip
            (C, T, crop, crop), params float32 (T, NUM_PARAMS))``; the jitter parameters
            are drawn here all the same, so the training step's
            ``apply_photometric(clips, params, mean, std)`` gives the same clip.
    """
    strengths = (jitter, jitter, jitter, min(jitter / 4, 0.5)) if np.isscalar(jitter) else tuple(jitter)
    if len(strengths) != 4 or any(s < 0 for s in strengths) or strengths[3] > 0.5:
        raise ValueError(
            f"invalid jitter {jitter!r}: expected s >= 0 or (brightness, contrast, saturation, hue <= 0.5)"
        )
    if not 0 <= jitter_p <= 1:
        raise ValueError(f"invalid jitter_p {jitter_p!r}: a probability in [0, 1]")
    geometric: list[torch.nn.Module] = [v2.RandomResizedCrop(crop, scale=scale, antialias=True)]
    if flip:
        geometric.append(v2.RandomHorizontalFlip())
    return ClipTransform(
        geometric,
        jitter=tuple(float(s) for s in strengths) if any(strengths) and jitter_p > 0 else None,
        jitter_p=jitter_p,
        per_frame_jitter=per_frame_jitter,
        mean=mean,
        std=std,
        photometric_on_device=photometric_on_device,
    )


def test_transform(
    crop: int | tuple[int, int] | None = 112,
    short_side: int | None = None,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    photometric_on_device: bool = False,
) -> ClipTransform:
    """Evaluation preprocessing: ``uint8 (T, H, W, 3)`` -> ``float32 (C, T, crop, crop)``.

    Resize the short side to ``short_side`` (keeping the aspect ratio), then
    take the centre crop. With ``short_side=None`` frames are only upscaled,
    and only when their short side is below the crop. ``crop=None`` keeps the
    whole frame. Deterministic. ``photometric_on_device`` returns ``(uint8 clip,
    NO_JITTER params)`` instead, as ``train_transform`` does, for one training
    and evaluation code path.
    """
    geometric: list[torch.nn.Module] = []
    if short_side is not None:
        geometric.append(v2.Resize(short_side, antialias=True))
    if crop is not None:
        if short_side is None:
            geometric.append(ShortSideAtLeast(max(crop) if isinstance(crop, Sequence) else crop))
        geometric.append(v2.CenterCrop(crop))
    return ClipTransform(geometric, mean=mean, std=std, photometric_on_device=photometric_on_device)


def normalize(frames: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """Decoded frames ``uint8 (T, H, W, 3)`` -> normalised clip ``float32 (C, T, H, W)``; no crop.

    The datasets' default transform.
    """
    return NormalizeClip(mean, std)(ToTCHW()(frames))


def denormalize(clip: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """Undo the normalisation for display: ``float (..., C, T, H, W)`` -> ``uint8 (..., T, H, W, 3)``.

    Works on a clip or a batch; values outside [0, 1] are clipped.
    """
    if clip.ndim < 4 or clip.shape[-4] != len(mean):
        raise ValueError(f"expected a clip (..., C={len(mean)}, T, H, W), got {tuple(clip.shape)}")
    shape = (len(mean), 1, 1, 1)
    m = torch.tensor(mean, dtype=clip.dtype, device=clip.device).view(shape)
    s = torch.tensor(std, dtype=clip.dtype, device=clip.device).view(shape)
    x = (clip.detach() * s + m).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-4, -1)


test_transform.__test__ = False  # not a pytest test, even when imported into a test module
