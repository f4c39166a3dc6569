#!/usr/bin/env python3
"""Tests for tools/export (plain asserts):  python tools/export/test_export.py

(a) the generator's state_dict matches the official Wav2Lip checkpoint layout
(b) --random-weights export: loadable TorchScript, batch 3, shape and range, model.toml
(c) checkpoint round trip ({"state_dict": ...} with `module.` prefixes) matches eager
(d) fixtures.py writes small, loadable, deterministic modules with the right shapes
(e) facemesh.py: the .tflite's weights (604,685) become the module's parameters, the
    TorchScript export reloads and matches eager, FP16 stays close, and the landmarks on
    the demo portraits fall on the eyes, nose and lips measured by hand
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import wav2lip as w2l  # noqa: E402
import facemesh as fm  # noqa: E402

PY = sys.executable

# Key names and shapes of the official generator checkpoints (wav2lip.pth,
# wav2lip_gan.pth), derived from the architecture in Rudrabha/Wav2Lip
# models/wav2lip.py + models/conv.py: for every block group, its first key, last
# conv weight, last BN running_var and last key, plus a few audio encoder strides.
OFFICIAL_KEYS = [
    ("face_encoder_blocks.0.0.conv_block.0.weight", (16, 6, 7, 7)),
    ("face_encoder_blocks.0.0.conv_block.1.running_var", (16,)),
    ("face_encoder_blocks.0.0.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.1.0.conv_block.0.weight", (32, 16, 3, 3)),
    ("face_encoder_blocks.1.2.conv_block.0.weight", (32, 32, 3, 3)),
    ("face_encoder_blocks.1.2.conv_block.1.running_var", (32,)),
    ("face_encoder_blocks.1.2.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.2.0.conv_block.0.weight", (64, 32, 3, 3)),
    ("face_encoder_blocks.2.3.conv_block.0.weight", (64, 64, 3, 3)),
    ("face_encoder_blocks.2.3.conv_block.1.running_var", (64,)),
    ("face_encoder_blocks.2.3.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.3.0.conv_block.0.weight", (128, 64, 3, 3)),
    ("face_encoder_blocks.3.2.conv_block.0.weight", (128, 128, 3, 3)),
    ("face_encoder_blocks.3.2.conv_block.1.running_var", (128,)),
    ("face_encoder_blocks.3.2.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.4.0.conv_block.0.weight", (256, 128, 3, 3)),
    ("face_encoder_blocks.4.2.conv_block.0.weight", (256, 256, 3, 3)),
    ("face_encoder_blocks.4.2.conv_block.1.running_var", (256,)),
    ("face_encoder_blocks.4.2.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.5.0.conv_block.0.weight", (512, 256, 3, 3)),
    ("face_encoder_blocks.5.1.conv_block.0.weight", (512, 512, 3, 3)),
    ("face_encoder_blocks.5.1.conv_block.1.running_var", (512,)),
    ("face_encoder_blocks.5.1.conv_block.1.num_batches_tracked", ()),
    ("face_encoder_blocks.6.0.conv_block.0.weight", (512, 512, 3, 3)),
    ("face_encoder_blocks.6.1.conv_block.0.weight", (512, 512, 1, 1)),
    ("face_encoder_blocks.6.1.conv_block.1.running_var", (512,)),
    ("face_encoder_blocks.6.1.conv_block.1.num_batches_tracked", ()),
    ("audio_encoder.0.conv_block.0.weight", (32, 1, 3, 3)),
    ("audio_encoder.0.conv_block.1.running_mean", (32,)),
    ("audio_encoder.3.conv_block.0.weight", (64, 32, 3, 3)),
    ("audio_encoder.6.conv_block.0.weight", (128, 64, 3, 3)),
    ("audio_encoder.9.conv_block.0.weight", (256, 128, 3, 3)),
    ("audio_encoder.11.conv_block.0.weight", (512, 256, 3, 3)),
    ("audio_encoder.12.conv_block.0.weight", (512, 512, 1, 1)),
    ("audio_encoder.12.conv_block.1.running_var", (512,)),
    ("audio_encoder.12.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.0.0.conv_block.0.weight", (512, 512, 1, 1)),
    ("face_decoder_blocks.0.0.conv_block.1.running_var", (512,)),
    ("face_decoder_blocks.0.0.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.1.0.conv_block.0.weight", (1024, 512, 3, 3)),
    ("face_decoder_blocks.1.1.conv_block.0.weight", (512, 512, 3, 3)),
    ("face_decoder_blocks.1.1.conv_block.1.running_var", (512,)),
    ("face_decoder_blocks.1.1.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.2.0.conv_block.0.weight", (1024, 512, 3, 3)),
    ("face_decoder_blocks.2.2.conv_block.0.weight", (512, 512, 3, 3)),
    ("face_decoder_blocks.2.2.conv_block.1.running_var", (512,)),
    ("face_decoder_blocks.2.2.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.3.0.conv_block.0.weight", (768, 384, 3, 3)),
    ("face_decoder_blocks.3.2.conv_block.0.weight", (384, 384, 3, 3)),
    ("face_decoder_blocks.3.2.conv_block.1.running_var", (384,)),
    ("face_decoder_blocks.3.2.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.4.0.conv_block.0.weight", (512, 256, 3, 3)),
    ("face_decoder_blocks.4.2.conv_block.0.weight", (256, 256, 3, 3)),
    ("face_decoder_blocks.4.2.conv_block.1.running_var", (256,)),
    ("face_decoder_blocks.4.2.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.5.0.conv_block.0.weight", (320, 128, 3, 3)),
    ("face_decoder_blocks.5.2.conv_block.0.weight", (128, 128, 3, 3)),
    ("face_decoder_blocks.5.2.conv_block.1.running_var", (128,)),
    ("face_decoder_blocks.5.2.conv_block.1.num_batches_tracked", ()),
    ("face_decoder_blocks.6.0.conv_block.0.weight", (160, 64, 3, 3)),
    ("face_decoder_blocks.6.2.conv_block.0.weight", (64, 64, 3, 3)),
    ("face_decoder_blocks.6.2.conv_block.1.running_var", (64,)),
    ("face_decoder_blocks.6.2.conv_block.1.num_batches_tracked", ()),
    ("output_block.0.conv_block.0.weight", (32, 80, 3, 3)),
    ("output_block.0.conv_block.1.running_var", (32,)),
    ("output_block.1.weight", (3, 32, 1, 1)),
    ("output_block.1.bias", (3,)),
]
OFFICIAL_FIRST_KEY = "face_encoder_blocks.0.0.conv_block.0.weight"
OFFICIAL_LAST_KEY = "output_block.1.bias"
OFFICIAL_NUM_KEYS = 352          # 7 entries per conv+BN unit x 50 units + 2 (final 1x1 conv)
OFFICIAL_NUM_PARAMS = 36_298_035  # trainable parameters (excludes BN running stats)


def run_cli(*args: str) -> str:
    proc = subprocess.run([PY, *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def check_model_toml(d: Path, *, file: str, precision: str, batch_size: int,
                     source_prefix: str) -> dict:
    meta = tomllib.loads((d / "model.toml").read_text())
    assert meta["kind"] == "lipsync", meta
    assert meta["format"] == "torchscript", meta
    assert meta["file"] == file, meta
    assert meta["contract"] == "wav2lip", meta
    assert meta["precision"] == precision, meta
    assert meta["batch_size"] == batch_size, meta
    assert meta["source"].startswith(source_prefix), meta
    digest = w2l.file_blake3(d / file)
    if digest is None:
        assert "blake3" not in meta
    else:
        assert meta["blake3"] == digest, (meta, digest)
    return meta


def test_a_state_dict_layout():
    model = w2l.Wav2LipGenerator()
    sd = model.state_dict()
    for key, shape in OFFICIAL_KEYS:
        assert key in sd, f"missing official key {key}"
        assert tuple(sd[key].shape) == shape, f"{key}: {tuple(sd[key].shape)} != {shape}"
    keys = list(sd)
    assert keys[0] == OFFICIAL_FIRST_KEY, keys[0]
    assert keys[-1] == OFFICIAL_LAST_KEY, keys[-1]
    assert len(keys) == OFFICIAL_NUM_KEYS, len(keys)
    assert w2l.param_count(model) == OFFICIAL_NUM_PARAMS, w2l.param_count(model)
    # No key outside the official naming scheme.
    groups = ("face_encoder_blocks.", "audio_encoder.", "face_decoder_blocks.", "output_block.")
    assert all(k.startswith(groups) for k in keys)
    print(f"(a) ok: {len(keys)} keys, {w2l.param_count(model):,} parameters")


def test_b_random_export(tmp: Path):
    out = tmp / "random"
    t0 = time.time()
    stdout = run_cli(str(HERE / "wav2lip.py"), "--random-weights", "--seed", "3",
                     "--out", str(out), "--batch-size", "64")
    secs = time.time() - t0
    assert f"{OFFICIAL_NUM_PARAMS:,} parameters" in stdout, stdout
    assert str(out / "wav2lip.pt") in stdout, stdout
    check_model_toml(out, file="wav2lip.pt", precision="fp32", batch_size=64,
                     source_prefix="random-weights (seed 3)")

    module = torch.jit.load(str(out / "wav2lip.pt"), map_location="cpu")
    audio, face = w2l.example_inputs(3, torch.device("cpu"), torch.float32, seed=99)
    with torch.no_grad():
        got = module(audio, face)
    assert tuple(got.shape) == (3, 3, 96, 96), got.shape
    assert got.dtype == torch.float32
    assert 0.0 <= got.min().item() and got.max().item() <= 1.0
    assert got.std().item() > 1e-4, "output is constant"
    # Per-sample independence: sample i of a batch equals running it alone.
    with torch.no_grad():
        alone = module(audio[1:2], face[1:2])
    assert torch.allclose(alone, got[1:2], atol=1e-4)

    # Same seed, same weights: identical output to a fresh eager model.
    torch.manual_seed(3)
    eager = w2l.randomize(w2l.Wav2LipGenerator(), 3).eval()
    with torch.no_grad():
        want = eager(audio, face)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()

    # Deterministic bytes for the same seed and output location.
    first = w2l.file_sha256(out / "wav2lip.pt")
    run_cli(str(HERE / "wav2lip.py"), "--random-weights", "--seed", "3",
            "--out", str(out), "--batch-size", "64")
    assert w2l.file_sha256(out / "wav2lip.pt") == first, "re-export changed the bytes"
    print(f"(b) ok: random-weights export in {secs:.1f}s, batch 3 -> {tuple(got.shape)}, "
          f"range [{got.min().item():.3f}, {got.max().item():.3f}]")


def test_c_checkpoint_roundtrip(tmp: Path):
    torch.manual_seed(11)
    original = w2l.randomize(w2l.Wav2LipGenerator(), 11).eval()
    # Shaped like the official files: DataParallel prefixes, optimizer state alongside.
    ckpt = {
        "state_dict": {"module." + k: v.clone() for k, v in original.state_dict().items()},
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.5, 0.999)}]},
        "global_step": 123,
        "global_epoch": 4,
    }
    ckpt_path = tmp / "wav2lip_gan.pth"
    torch.save(ckpt, ckpt_path)

    out = tmp / "from-ckpt"
    run_cli(str(HERE / "wav2lip.py"), "--checkpoint", str(ckpt_path), "--out", str(out),
            "--name", "w2l-gan")
    meta = check_model_toml(out, file="w2l-gan.pt", precision="fp32", batch_size=128,
                            source_prefix="wav2lip_gan.pth")
    assert meta["source"] == f"wav2lip_gan.pth sha256:{w2l.file_sha256(ckpt_path)}", meta

    module = torch.jit.load(str(out / "w2l-gan.pt"), map_location="cpu")
    for b in (1, 4):
        audio, face = w2l.example_inputs(b, torch.device("cpu"), torch.float32, seed=5)
        with torch.no_grad():
            want = original(audio, face)
            got = module(audio, face)
        err = (got - want).abs().max().item()
        assert err < 1e-4, f"batch {b}: max abs err {err}"

    # A raw state dict without num_batches_tracked (older torch) also loads.
    raw = {k: v for k, v in original.state_dict().items()
           if not k.endswith("num_batches_tracked")}
    raw_path = tmp / "raw.pth"
    torch.save(raw, raw_path)
    m2 = w2l.Wav2LipGenerator()
    w2l.load_checkpoint(m2, raw_path)
    for k, v in original.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(m2.state_dict()[k], v), k

    # A mismatching checkpoint fails with the offending keys named.
    bad = dict(raw)
    bad.pop("output_block.1.bias")
    bad["module.extra.weight"] = torch.zeros(1)
    bad["audio_encoder.0.conv_block.0.weight"] = torch.zeros(32, 1, 5, 5)
    bad_path = tmp / "bad.pth"
    torch.save({"state_dict": bad}, bad_path)
    try:
        w2l.load_checkpoint(w2l.Wav2LipGenerator(), bad_path)
    except SystemExit as e:
        msg = str(e)
        assert "missing: output_block.1.bias" in msg, msg
        assert "unexpected: extra.weight" in msg, msg
        assert "shape mismatch: audio_encoder.0.conv_block.0.weight" in msg, msg
    else:
        raise AssertionError("mismatching checkpoint was accepted")
    print("(c) ok: checkpoint round trip matches eager (batches 1, 4); "
          "raw/legacy state dicts load; bad keys reported")


def test_d_fixtures(tmp: Path):
    out1, out2 = tmp / "fx1", tmp / "fx2"
    stdout = run_cli(str(HERE / "fixtures.py"), "--out", str(out1))
    run_cli(str(HERE / "fixtures.py"), "--out", str(out2))
    names = ("tiny-lipsync", "slow-lipsync", "bad-shape")
    for name in names:
        assert f"{name}.pt" in stdout, stdout
        d = out1 / name
        check_model_toml(d, file=f"{name}.pt", precision="fp32", batch_size=4,
                         source_prefix="fixture ")
        pt = d / f"{name}.pt"
        assert pt.stat().st_size < 16 * 1024, (pt, pt.stat().st_size)
        assert pt.read_bytes() == (out2 / name / f"{name}.pt").read_bytes(), \
            f"{name}: not byte-for-byte reproducible"

    mods = {n: torch.jit.load(str(out1 / n / f"{n}.pt"), map_location="cpu") for n in names}
    g = torch.Generator().manual_seed(0)
    for b in (1, 3, 7):
        audio = torch.rand((b, 1, 80, 16), generator=g) * 8 - 4
        face = torch.rand((b, 6, 96, 96), generator=g)
        for n in ("tiny-lipsync", "slow-lipsync"):
            y = mods[n](audio, face)
            assert tuple(y.shape) == (b, 3, 96, 96), (n, y.shape)
            assert y.dtype == torch.float32
            assert 0.0 <= y.min().item() and y.max().item() <= 1.0
            assert torch.equal(y[:, :, :48], face[:, 3:6, :48]), "top half must be the reference"
        y = mods["bad-shape"](audio, face)
        assert tuple(y.shape) == (b, 3, 48, 48), y.shape

    # Audio moves the mouth area: silence leaves the face alone, louder is darker.
    face = torch.rand((1, 6, 96, 96), generator=g) * 0.5 + 0.5
    ref = face[:, 3:6]
    quiet = torch.zeros(1, 1, 80, 16)
    loud = torch.full((1, 1, 80, 16), 2.0)
    tiny, slow = mods["tiny-lipsync"], mods["slow-lipsync"]
    assert torch.equal(tiny(quiet, face), ref)
    assert torch.allclose(tiny(loud, face)[:, :, 48:], ref[:, :, 48:] * 0.5)
    assert torch.allclose(slow(loud, face)[:, :, 48:], ref[:, :, 48:] * 0.75)
    assert not torch.equal(tiny(loud, face), slow(loud, face))
    # Per-sample: each item's darkening depends on its own audio only.
    both = tiny(torch.cat([quiet, loud]), face.expand(2, -1, -1, -1))
    assert torch.equal(both[0:1], tiny(quiet, face)) and torch.allclose(both[1:2], tiny(loud, face))
    # Distinct models (distinct files and pins).
    pins = {n: tomllib.loads((out1 / n / "model.toml").read_text()).get("blake3") for n in names}
    if None not in pins.values():
        assert len(set(pins.values())) == 3, pins
    print("(d) ok: fixtures loadable, shapes right, deterministic bytes, "
          + ", ".join(f"{n} {(out1 / n / f'{n}.pt').stat().st_size} B" for n in names))


# Hand-checked points (source image pixels), read off 8-10x enlargements of the portraits
# with a 5 px grid. A landmark's tolerance is its distance in source pixels.
# astronaut.png (frontal, face ~100 px wide): MediaPipe indices: 33/133 outer/inner corner of
# her right eye (image left), 362/263 inner/outer corner of her left eye, 1 nose tip,
# 13/14 inner edge of the upper/lower lip at the middle, 61/291 mouth corners.
ASTRONAUT_POINTS = {
    33: (193.0, 101.0), 133: (212.0, 102.5), 362: (236.0, 103.0), 263: (259.0, 103.0),
    1: (223.0, 128.0), 13: (223.0, 142.0), 14: (223.0, 150.0),
    61: (202.5, 140.0), 291: (244.5, 141.5),
}
ASTRONAUT_TOLERANCE = 4.0
# camera.png (near profile facing right, face ~70 px wide, far eye hidden by the camera):
# only what is visible: the middle of his right eye (mean of 33 and 133), the nose tip, the
# near mouth corner (61) and the front of the lips (mean of 13 and 14). At this yaw the model
# puts the nose tip and lips a few pixels in front of the profile, hence the wider tolerance.
CAMERA_POINTS = {
    (33, 133): (143.0, 146.5), (1,): (158.0, 166.0), (61,): (134.0, 180.5),
    (13, 14): (146.0, 181.5),
}
CAMERA_TOLERANCE = 8.0


def test_e_facemesh(tmp: Path):
    import numpy as np
    from PIL import Image

    import facemesh_model as fmm

    t0 = time.time()
    cached = REPO / "models/facemesh" / fm.TFLITE_NAME   # tools/setup fetched it
    tflite = fm.fetch_tflite(cached if cached.parent.is_dir() else tmp / fm.TFLITE_NAME,
                             quiet=True)
    graph = fm.read_tflite(tflite)
    assert graph.shapes[graph.inputs[0]] == [1, 192, 192, 3], graph.inputs
    assert [graph.shapes[o] for o in graph.outputs] == [[1, 1, 1, 1404], [1, 1, 1, 1]]
    assert graph.num_weights() == fm.NUM_WEIGHTS == 604_685, graph.num_weights()

    # The loader refuses a graph that differs from the module: rewired, or another stride.
    import copy
    for what, change in (("rewired", lambda op: op["inputs"].reverse()),
                         ("stride", lambda op: op["options"].update(stride=(1, 1)))):
        bad = copy.deepcopy(graph)
        target = "add_5" if what == "rewired" else "depthwise_conv2d_6"
        change(next(op for op in bad.ops if op["outputs"] == [target]))
        try:
            fmm.load_tflite(fmm.FaceMesh(), bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"a {what} graph was accepted")

    out = tmp / "facemesh"
    res = fm.export(out_dir=out, tflite=tflite, quiet=True)
    model = res["model"]
    assert res["params"] == fmm.param_count(model) == fm.NUM_WEIGHTS, res["params"]
    meta = tomllib.loads((out / "model.toml").read_text())
    assert (meta["kind"], meta["format"], meta["file"], meta["contract"], meta["precision"]) \
        == ("landmarks", "torchscript", "facemesh.pt", "facemesh", "fp32"), meta
    assert meta["source"].endswith(fm.TFLITE_SHA256), meta
    assert meta.get("blake3") == w2l.file_blake3(out / "facemesh.pt"), meta
    assert fm.up_to_date(out) == (True, "up to date")

    images = {n: Image.open(REPO / "avatars" / f"{n}.png") for n in fm.DEMO_BOXES}
    x = torch.stack([torch.from_numpy(fm.crop(images[n], box)).permute(2, 0, 1)
                     for n, box in fm.DEMO_BOXES.items()])
    loaded = torch.jit.load(str(out / "facemesh.pt"))
    with torch.no_grad():
        lm, score = model(x)
        lm_ts, score_ts = loaded(x)
        lm_half, score_half = model.half()(x.half())
    assert lm.shape == (2, 468, 3) and score.shape == (2,), (lm.shape, score.shape)
    assert torch.allclose(lm, lm_ts, atol=1e-4) and torch.allclose(score, score_ts, atol=1e-6)
    half_err = (lm_half.float() - lm).abs().max().item()
    assert half_err < 0.5, half_err      # px of 192; FP16 resolution near 192 is 0.125
    assert (score_half.float() - score).abs().max().item() < 0.01
    assert score.min().item() > 0.9, score

    pts = {n: fm.to_source(lm[i].numpy().copy(), box)
           for i, (n, box) in enumerate(fm.DEMO_BOXES.items())}
    worst = {}
    for name, points, tol in (("astronaut", ASTRONAUT_POINTS, ASTRONAUT_TOLERANCE),
                              ("camera", CAMERA_POINTS, CAMERA_TOLERANCE)):
        dists = []
        for idx, want in points.items():
            idx = idx if isinstance(idx, tuple) else (idx,)
            got = pts[name][list(idx)].mean(axis=0)
            d = float(np.hypot(*(got - np.array(want))))
            assert d <= tol, f"{name} landmark {idx}: at {got.round(1)}, hand-checked {want}, {d:.1f} px"
            dists.append(d)
        worst[name] = max(dists)

    # A tampered export is stale (tools/setup re-exports it).
    with open(out / "facemesh.pt", "ab") as fh:
        fh.write(b"x")
    if meta.get("blake3"):
        assert not fm.up_to_date(out)[0]
    print(f"(e) ok: facemesh {res['params']:,} parameters, scores "
          f"{', '.join(f'{s:.3f}' for s in score.tolist())}, landmarks within "
          f"{worst['astronaut']:.1f} px (astronaut) and {worst['camera']:.1f} px (camera) of "
          f"the hand-checked points, fp16 {half_err:.3f} px ({time.time() - t0:.1f}s)")


def main() -> int:
    t0 = time.time()
    test_a_state_dict_layout()
    with tempfile.TemporaryDirectory(prefix="render-export-test-") as tmp:
        tmp = Path(tmp)
        test_d_fixtures(tmp)
        test_b_random_export(tmp)
        test_c_checkpoint_roundtrip(tmp)
        test_e_facemesh(tmp)
    blake = "blake3 pins checked" if w2l.file_blake3(Path(__file__)) is not None \
        else "blake3 package missing: pins omitted"
    print(f"all tests passed in {time.time() - t0:.1f}s ({blake})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
