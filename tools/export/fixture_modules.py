"""Tiny stand-ins for a lip-sync model, scripted by fixtures.py for render's Rust tests.

Every module takes the wav2lip contract's inputs, audio [B,1,80,16] and face
[B,6,96,96] (channels 0..3: masked target, 3..6: reference face, values 0..1),
has no weights, and is deterministic.

fixtures.py compiles this file under its repository-relative name so that the
debug information TorchScript stores does not depend on where the checkout lives.
"""

import torch
from torch import Tensor, nn


def _darken_lower_half(audio: Tensor, face: Tensor, strength: float) -> Tensor:
    ref = face[:, 3:6]
    # Mean |mel| per sample; Wav2Lip mels lie in -4..4, so strength 0.25 maps
    # silence (0) to no change and the loudest frames (4) to black.
    level = audio.abs().mean(dim=[1, 2, 3])
    scale = (1.0 - strength * level).clamp(0.0, 1.0).view(-1, 1, 1, 1)
    half = ref.size(2) // 2
    top = ref[:, :, :half]
    bottom = ref[:, :, half:] * scale
    return torch.cat([top, bottom], dim=2).clamp(0.0, 1.0)


class TinyLipsync(nn.Module):
    """Reference face with its lower half darkened by 0.25 * mean |mel|."""

    def forward(self, audio: Tensor, face: Tensor) -> Tensor:
        return _darken_lower_half(audio, face, 0.25)


class SlowLipsync(nn.Module):
    """A second, distinct model: like TinyLipsync but darkens half as much.
    ("slow" is only its name; it is as cheap as TinyLipsync.)"""

    def forward(self, audio: Tensor, face: Tensor) -> Tensor:
        return _darken_lower_half(audio, face, 0.125)


class BadShape(nn.Module):
    """Violates the contract: returns [B,3,48,48] instead of [B,3,96,96]."""

    def forward(self, audio: Tensor, face: Tensor) -> Tensor:
        return face[:, 3:6, ::2, ::2]
