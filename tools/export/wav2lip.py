#!/usr/bin/env python3
"""Export the Wav2Lip generator to TorchScript for render's GPU lip-sync lane.

The network below is an independent re-implementation of the Wav2Lip generator
(Prajwal et al., "A Lip Sync Expert Is All You Need for Speech to Lip Generation
In the Wild", ACM MM 2020).  Its module tree is laid out so that `state_dict()`
keys and shapes are identical to the official checkpoints `wav2lip.pth` and
`wav2lip_gan.pth`, which therefore load with `strict=True`.

Contract ("wav2lip"), as traced here:
    audio  [B, 1, 80, 16]   one mel window (80 mel bins x 16 frames)
    face   [B, 6, 96, 96]   masked target face (lower half zeroed, channels 0..3)
                            concatenated with a reference face (channels 3..6),
                            RGB/BGR as the model was trained, scaled to 0..1
    out    [B, 3, 96, 96]   generated face, 0..1 (sigmoid)

Usage:
    python tools/export/wav2lip.py (--checkpoint PATH | --random-weights [--seed N]) \
        --out models/wav2lip [--device cpu|cuda] [--batch-size 128] [--name wav2lip]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

AUDIO_SHAPE = (1, 80, 16)
FACE_SHAPE = (6, 96, 96)
OUT_SHAPE = (3, 96, 96)
TRACE_BATCH = 2
VERIFY_BATCHES = (1, 5)


# --------------------------------------------------------------------------- model


class ConvBNReLU(nn.Module):
    """conv (or transposed conv) -> batch norm -> optional identity skip -> ReLU.

    Submodule names (`conv_block.0` = conv, `conv_block.1` = BN) are what the
    official checkpoints use.
    """

    def __init__(self, cin, cout, kernel, stride, pad, residual=False,
                 transpose=False, output_padding=0):
        super().__init__()
        if transpose:
            conv = nn.ConvTranspose2d(cin, cout, kernel, stride, pad, output_padding)
        else:
            conv = nn.Conv2d(cin, cout, kernel, stride, pad)
        self.conv_block = nn.Sequential(conv, nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual
        if residual:
            assert cin == cout and stride == 1, "identity skip needs matching shapes"

    def forward(self, x):
        y = self.conv_block(x)
        if self.residual:
            y = y + x
        return self.act(y)


def _down(cin, cout, kernel=3, stride=2, pad=1):
    return ConvBNReLU(cin, cout, kernel, stride, pad)


def _res(ch, n):
    return [ConvBNReLU(ch, ch, 3, 1, 1, residual=True) for _ in range(n)]


def _up(cin, cout, stride=2, pad=1, output_padding=1):
    return ConvBNReLU(cin, cout, 3, stride, pad, transpose=True, output_padding=output_padding)


class Wav2LipGenerator(nn.Module):
    """U-Net: the face encoder's features are concatenated, deepest first, onto
    the decoder that starts from the audio embedding."""

    def __init__(self):
        super().__init__()
        # Face encoder: 96 -> 96, 48, 24, 12, 6, 3, 1 (spatial size after each stage).
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(_down(6, 16, kernel=7, stride=1, pad=3)),
            nn.Sequential(_down(16, 32), *_res(32, 2)),
            nn.Sequential(_down(32, 64), *_res(64, 3)),
            nn.Sequential(_down(64, 128), *_res(128, 2)),
            nn.Sequential(_down(128, 256), *_res(256, 2)),
            nn.Sequential(_down(256, 512), *_res(512, 1)),
            nn.Sequential(_down(512, 512, stride=1, pad=0),
                          _down(512, 512, kernel=1, stride=1, pad=0)),
        ])

        # Audio encoder, one flat Sequential: mel 80x16 -> 80x16, 27x16, 9x6, 3x3, 1x1.
        self.audio_encoder = nn.Sequential(
            _down(1, 32, stride=1), *_res(32, 2),
            _down(32, 64, stride=(3, 1)), *_res(64, 2),
            _down(64, 128, stride=3), *_res(128, 2),
            _down(128, 256, stride=(3, 2)), *_res(256, 1),
            _down(256, 512, stride=1, pad=0),
            _down(512, 512, kernel=1, stride=1, pad=0),
        )

        # Decoder: 1 -> 1, 3, 6, 12, 24, 48, 96.  Input channels of stage i are
        # (output of stage i-1) + (face encoder features of the same size).
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(_down(512, 512, kernel=1, stride=1, pad=0)),
            nn.Sequential(_up(1024, 512, stride=1, pad=0, output_padding=0), *_res(512, 1)),
            nn.Sequential(_up(1024, 512), *_res(512, 2)),
            nn.Sequential(_up(768, 384), *_res(384, 2)),
            nn.Sequential(_up(512, 256), *_res(256, 2)),
            nn.Sequential(_up(320, 128), *_res(128, 2)),
            nn.Sequential(_up(160, 64), *_res(64, 2)),
        ])

        self.output_block = nn.Sequential(
            ConvBNReLU(80, 32, 3, 1, 1),
            nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, audio, face):
        skips = []
        f = face
        for stage in self.face_encoder_blocks:
            f = stage(f)
            skips.append(f)

        x = self.audio_encoder(audio)
        for stage in self.face_decoder_blocks:
            x = torch.cat((stage(x), skips.pop()), dim=1)

        return self.output_block(x)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic random weights, including non-trivial batch-norm statistics
    (default BN init is the identity, which would leave the BN path untested)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else \
                    m.weight.shape[0] * m.weight[0, 0].numel()
                bound = (1.0 / fan_in) ** 0.5
                m.weight.uniform_(-bound, bound, generator=g)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.2, generator=g)
                m.bias.normal_(0.0, 0.05, generator=g)
                m.running_mean.normal_(0.0, 0.05, generator=g)
                m.running_var.uniform_(0.8, 1.2, generator=g)
    return model


# --------------------------------------------------------------------------- loading


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load an official-style checkpoint: a raw state dict or {"state_dict": ...},
    possibly saved from nn.DataParallel (keys prefixed with `module.`)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise SystemExit(f"error: cannot load {path} with torch.load(weights_only=True): {e}")

    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        state = ckpt["state_dict"]
    elif isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        state = ckpt
    else:
        kind = type(ckpt).__name__
        keys = list(ckpt.keys())[:10] if isinstance(ckpt, dict) else []
        raise SystemExit(f"error: {path} is neither a state dict nor {{'state_dict': ...}} "
                         f"(got {kind}, top-level keys {keys})")

    stripped = {}
    for k, v in state.items():
        while k.startswith("module."):
            k = k[len("module."):]
        stripped[k] = v

    expected = model.state_dict()
    # BatchNorm fills in a missing `num_batches_tracked` (checkpoints from old torch
    # versions lack it; it is unused in eval mode), so don't count it as missing.
    missing = sorted(k for k in set(expected) - set(stripped)
                     if not k.endswith(".num_batches_tracked"))
    unexpected = sorted(set(stripped) - set(expected))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(stripped[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(stripped)
        if tuple(stripped[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mismatched:
        lines = [f"error: {path} does not match the Wav2Lip generator "
                 f"({len(missing)} missing, {len(unexpected)} unexpected, "
                 f"{len(mismatched)} shape mismatches)"]
        for title, items in (("missing", missing), ("unexpected", unexpected),
                             ("shape mismatch", mismatched)):
            for item in items:
                lines.append(f"  {title}: {item}")
        if missing and unexpected:
            lines.append("  (a different network? use the generator checkpoint, wav2lip.pth or "
                         "wav2lip_gan.pth, not a discriminator / SyncNet checkpoint)")
        raise SystemExit("\n".join(lines))

    model.load_state_dict(stripped, strict=True)


# --------------------------------------------------------------------------- export


def example_inputs(batch: int, device: torch.device, dtype: torch.dtype, seed: int = 1234):
    g = torch.Generator().manual_seed(seed + batch)
    audio = (torch.rand((batch,) + AUDIO_SHAPE, generator=g) * 8.0 - 4.0)  # mel range -4..4
    face = torch.rand((batch,) + FACE_SHAPE, generator=g)
    face[:, :3, FACE_SHAPE[1] // 2:, :] = 0.0  # lower half of the target masked
    return audio.to(device=device, dtype=dtype), face.to(device=device, dtype=dtype)


def trace(model: nn.Module, device: torch.device, dtype: torch.dtype):
    """Trace with batch TRACE_BATCH and verify that other batch sizes match eager."""
    model = model.to(device=device, dtype=dtype).eval()
    with torch.no_grad():
        # _store_inputs=False: don't embed the example inputs in the archive.
        traced = torch.jit.trace(model, example_inputs(TRACE_BATCH, device, dtype),
                                 check_trace=False, _store_inputs=False)
        atol = 1e-4 if dtype == torch.float32 else 5e-3
        for b in VERIFY_BATCHES:
            a, f = example_inputs(b, device, dtype)
            want = model(a, f)
            got = traced(a, f)
            if tuple(got.shape) != (b,) + OUT_SHAPE:
                raise SystemExit(f"error: traced output for batch {b} has shape "
                                 f"{tuple(got.shape)}, expected {(b,) + OUT_SHAPE}")
            err = (got.float() - want.float()).abs().max().item()
            if not err <= atol:
                raise SystemExit(f"error: traced module differs from eager at batch {b}: "
                                 f"max abs err {err:.3g} > {atol}")
            lo, hi = got.min().item(), got.max().item()
            if not (0.0 <= lo and hi <= 1.0):
                raise SystemExit(f"error: output outside 0..1 at batch {b}: [{lo}, {hi}]")
    return traced


def file_blake3(path: Path):
    try:
        import blake3  # type: ignore
    except ImportError:
        return None
    h = blake3.blake3()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_model_toml(out_dir: Path, *, writer: str, file: str, contract: str,
                     precision: str, batch_size: int, source: str, kind: str = "lipsync",
                     comments: tuple[str, ...] = ()) -> dict:
    """Write <out_dir>/model.toml describing <out_dir>/<file>. Returns the fields.
    `comments` are written as `# ...` lines after the header."""
    digest = file_blake3(out_dir / file)
    lines = [
        f"# written by {writer}",
        *(f"# {c}" for c in comments),
        f"kind = {toml_str(kind)}",
        'format = "torchscript"',
        f"file = {toml_str(file)}",
        f"contract = {toml_str(contract)}",
        f"precision = {toml_str(precision)}",
        f"batch_size = {int(batch_size)}",
    ]
    if digest is None:
        lines.append("# blake3 pin omitted: the python package `blake3` is not installed "
                     "(pip install blake3)")
    else:
        lines.append(f"blake3 = {toml_str(digest)}")
    lines.append(f"source = {toml_str(source)}")
    text = "\n".join(lines) + "\n"
    tmp = out_dir / "model.toml.tmp"
    tmp.write_text(text)
    os.replace(tmp, out_dir / "model.toml")
    return {"blake3": digest, "text": text}


def save_module(module, path: Path) -> None:
    """Save atomically so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The archive's top-level folder is named after the file, so save under the
    # final name inside a scratch folder next to the target, then rename.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp_dir:
        tmp = Path(tmp_dir) / path.name
        torch.jit.save(module, str(tmp))
        os.replace(tmp, path)


def export(*, checkpoint: Path | None, seed: int, out_dir: Path, device: str,
           batch_size: int, name: str, quiet: bool = False) -> dict:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda requested but torch.cuda.is_available() is False")
    dev = torch.device(device)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    precision = "fp16" if dtype == torch.float16 else "fp32"

    torch.manual_seed(seed)
    model = Wav2LipGenerator()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
        source = f"{checkpoint.name} sha256:{file_sha256(checkpoint)}"
    else:
        randomize(model, seed)
        source = f"random-weights (seed {seed})"
    model.eval()
    n_params = param_count(model)

    traced = trace(model, dev, dtype)

    out_dir.mkdir(parents=True, exist_ok=True)
    file = f"{name}.pt"
    pt_path = out_dir / file
    save_module(traced, pt_path)
    meta = write_model_toml(out_dir, writer="tools/export/wav2lip.py", file=file,
                            contract="wav2lip", precision=precision,
                            batch_size=batch_size, source=source)
    if not quiet:
        print(f"wav2lip generator: {n_params:,} parameters")
        print(f"traced on {dev} in {precision} at batch {TRACE_BATCH}; matches eager at "
              f"batches {', '.join(str(b) for b in VERIFY_BATCHES)}")
        print(f"wrote {pt_path} ({pt_path.stat().st_size:,} bytes)")
        print(f"wrote {out_dir / 'model.toml'}")
        if meta["blake3"] is None:
            print("note: `blake3` python package not installed; model.toml has no blake3 pin")
    return {"params": n_params, "pt": pt_path, "toml": out_dir / "model.toml",
            "precision": precision, "blake3": meta["blake3"], "source": source,
            "model": model}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Export the Wav2Lip generator to TorchScript.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path,
                     help="official wav2lip.pth / wav2lip_gan.pth (or a raw state dict)")
    src.add_argument("--random-weights", action="store_true",
                     help="deterministic random weights (for tests; output is noise)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-weights (default 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. models/wav2lip")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: trace in FP32; cuda: trace in FP16 (default cpu)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="batch size render should use, recorded in model.toml (default 128)")
    p.add_argument("--name", default="wav2lip",
                   help="file stem of the TorchScript module (default wav2lip -> wav2lip.pt)")
    args = p.parse_args(argv)

    if args.checkpoint is not None and not args.checkpoint.is_file():
        p.error(f"--checkpoint {args.checkpoint}: no such file")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    if not args.name or "/" in args.name or "\\" in args.name or args.name.startswith("."):
        p.error("--name must be a plain file stem")

    export(checkpoint=args.checkpoint, seed=args.seed, out_dir=args.out, device=args.device,
           batch_size=args.batch_size, name=args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
