#!/usr/bin/env python3
"""Export MediaPipe's face landmark model (Face Mesh, 468 points) to TorchScript.

The weights come from `face_landmark.tflite` (Apache-2.0), which ships inside the
`mediapipe==0.10.14` wheel on PyPI. This script downloads the wheel with
`pip download --no-deps` (mediapipe and its dependencies are never installed), takes the
one file out with `zipfile`, checks its pinned sha256 and caches it next to the export.

The network is re-implemented here as an explicit PyTorch module (`FaceMesh`: a stem, 16
residual blocks, a landmark head and a face-flag head). Its weights are read from the
TFLite flatbuffer by a small reader in this file (no `tflite` or `tensorflow` package):
the float16 constants behind the DEQUANTIZE ops are converted to float32. Before any
weight is copied, every operator of the file is matched against the edges the module says
it has (`FaceMesh.edges()`: op type, input tensor names, output tensor name), so a file
whose graph differs in any op, wiring, stride, padding or activation is refused.

Contract ("facemesh"), as traced here:
    image      [N, 3, 192, 192]  RGB face crop, float, 0..1 (MediaPipe's
                                 ImageToTensorCalculator range for this model)
    landmarks  [N, 468, 3]       x, y in pixels of the 192x192 crop (0..192, x to the
                                 right, y down); z in the same scale, relative depth
                                 (smaller is nearer the camera)
    score      [N]               face presence, sigmoid of the face-flag logit, 0..1

Usage:
    python tools/export/facemesh.py --out models/facemesh [--if-stale | --check]
        [--tflite PATH] [--batch-size 64]

tools/setup runs it when `--check` says the export is missing or stale (another version
of this exporter or of torch, or a .pt that no longer matches its blake3 pin).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "mediapipe==0.10.14"
# Any one wheel of 0.10.14 will do: the file is the same in every one of them.
WHEEL_PLATFORM = "manylinux_2_17_x86_64"
WHEEL_PYTHON = "3.11"
MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
TFLITE_NAME = "face_landmark.tflite"
TFLITE_SIZE = 1_242_398
TFLITE_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"

INPUT_SIZE = 192
NUM_LANDMARKS = 468
# Float16 weights in the file: kernels, biases and PReLU slopes (checked on load).
NUM_WEIGHTS = 604_685
TRACE_BATCH = 2
VERIFY_BATCHES = (1, 3)
DEFAULT_BATCH = 64
# Bump when the exported module changes in a way the exporter's own hash does not show.
EXPORT_VERSION = 1

HERE = Path(__file__).resolve().parent


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- fetch


def fetch_tflite(dest: Path, *, quiet: bool = False) -> Path:
    """Return `dest` holding the pinned face_landmark.tflite, downloading it if needed."""
    if dest.is_file() and dest.stat().st_size == TFLITE_SIZE and file_sha256(dest) == TFLITE_SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facemesh-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "--platform", WHEEL_PLATFORM,
               "--python-version", WHEEL_PYTHON, "-q", "-d", tmp, WHEEL_REQUIREMENT]
        if not quiet:
            print(f"downloading the {WHEEL_REQUIREMENT} wheel (~36 MB; only {TFLITE_NAME} is kept)…")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"error: `{' '.join(cmd)}` failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"error: expected one mediapipe wheel in {tmp}, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != TFLITE_SHA256:
        raise SystemExit(f"error: {MEMBER} in {wheels[0].name} has sha256 {digest}, "
                         f"expected {TFLITE_SHA256}")
    tmp_path = dest.with_name(dest.name + ".tmp")
    tmp_path.write_bytes(data)
    os.replace(tmp_path, dest)
    if not quiet:
        print(f"wrote {dest} ({len(data):,} bytes, sha256 {digest[:16]}…)")
    return dest


# --------------------------------------------------------------------------- flatbuffer

# The parts of the TFLite schema (tensorflow/lite/schema/schema.fbs) read here.
BUILTIN = {0: "ADD", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
           17: "MAX_POOL_2D", 34: "PAD", 54: "PRELU"}
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32"}
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


class _Table:
    """A flatbuffer table: field i's vtable slot, scalars, offsets, vectors, strings."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_len = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, i: int) -> int:
        slot = 4 + 2 * i
        if slot >= self.vtable_len:
            return 0
        return struct.unpack_from("<H", self.buf, self.vtable + slot)[0]

    def scalar(self, i: int, fmt: str, default=0):
        off = self._field(i)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def _target(self, i: int):
        off = self._field(i)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, i: int):
        at = self._target(i)
        return None if at is None else _Table(self.buf, at)

    def _vector(self, i: int):
        at = self._target(i)
        if at is None:
            return 0, 0
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]

    def tables(self, i: int) -> list:
        at, n = self._vector(i)
        return [_Table(self.buf, at + 4 * k + struct.unpack_from("<I", self.buf, at + 4 * k)[0])
                for k in range(n)]

    def ints(self, i: int) -> list:
        at, n = self._vector(i)
        return list(struct.unpack_from(f"<{n}i", self.buf, at))

    def bytes(self, i: int) -> bytes:
        at, n = self._vector(i)
        return self.buf[at:at + n]

    def string(self, i: int) -> str:
        return self.bytes(i).decode()


class TfliteGraph:
    """The one subgraph of a .tflite file: tensors (by name) and operators (in order).

    `ops` is a list of dicts {type, inputs, outputs, options} with tensor *names*;
    `consts[name]` is a numpy array for every tensor backed by a buffer (float16 weights as
    stored; int32 paddings); DEQUANTIZE ops are folded: `weight(name)` returns float32.
    """

    def __init__(self, data: bytes):
        import numpy as np

        if data[4:8] != b"TFL3":
            raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
        model = _Table(data, struct.unpack_from("<I", data, 0)[0])
        self.description = model.string(3)
        codes = []
        for c in model.tables(1):
            # builtin_code (field 3) superseded the int8 deprecated_builtin_code (field 0).
            code = max(c.scalar(0, "b"), c.scalar(3, "i"))
            if code not in BUILTIN:
                raise ValueError(f"unsupported TFLite builtin operator code {code}")
            codes.append(BUILTIN[code])
        buffers = model.tables(4)
        subgraphs = model.tables(2)
        if len(subgraphs) != 1:
            raise ValueError(f"expected one subgraph, found {len(subgraphs)}")
        g = subgraphs[0]
        self.tensors = []
        self.shapes = {}
        self.consts = {}
        for t in g.tables(0):
            name = t.string(3)
            shape = t.ints(0)
            dtype = TENSOR_TYPES.get(t.scalar(1, "b"))
            raw = buffers[t.scalar(2, "I")].bytes(0)
            self.tensors.append(name)
            self.shapes[name] = shape
            if raw:
                if dtype is None:
                    raise ValueError(f"tensor {name}: unsupported type {t.scalar(1, 'b')}")
                arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
                self.consts[name] = arr.reshape(shape)
        self.inputs = [self.tensors[i] for i in g.ints(1)]
        self.outputs = [self.tensors[i] for i in g.ints(2)]
        self.ops = []
        self.dequantized = {}
        for op in g.tables(3):
            kind = codes[op.scalar(0, "I")]
            ins = [self.tensors[i] for i in op.ints(1) if i >= 0]
            outs = [self.tensors[i] for i in op.ints(2)]
            opts = self._options(kind, op.table(4))
            if kind == "DEQUANTIZE":
                (src,), (dst,) = ins, outs
                if self.consts[src].dtype != np.float16:
                    raise ValueError(f"DEQUANTIZE of {src}: not float16")
                self.dequantized[dst] = src
                continue
            self.ops.append({"type": kind, "inputs": ins, "outputs": outs, "options": opts})

    @staticmethod
    def _options(kind: str, t) -> dict:
        if t is None:
            return {}
        if kind == "CONV_2D":
            return {"padding": PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                    "activation": ACTIVATION[t.scalar(3, "b")],
                    "dilation": (t.scalar(5, "i", 1), t.scalar(4, "i", 1))}
        if kind == "DEPTHWISE_CONV_2D":
            return {"padding": PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                    "depth_multiplier": t.scalar(3, "i"), "activation": ACTIVATION[t.scalar(4, "b")],
                    "dilation": (t.scalar(6, "i", 1), t.scalar(5, "i", 1))}
        if kind == "MAX_POOL_2D":
            return {"padding": PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                    "filter": (t.scalar(4, "i"), t.scalar(3, "i")),
                    "activation": ACTIVATION[t.scalar(5, "b")]}
        if kind == "ADD":
            return {"activation": ACTIVATION[t.scalar(0, "b")]}
        return {}

    def weight(self, name: str):
        """float32 numpy array of a constant (following DEQUANTIZE)."""
        import numpy as np

        return self.consts[self.dequantized.get(name, name)].astype(np.float32)

    def num_weights(self) -> int:
        """Elements of all float16 constants: the model's parameters."""
        import numpy as np

        return sum(int(a.size) for a in self.consts.values() if a.dtype == np.float16)


def read_tflite(path: Path) -> TfliteGraph:
    return TfliteGraph(Path(path).read_bytes())


# --------------------------------------------------------------------------- crops

# Square face boxes (x0, y0, side) in the demo portraits, for the tests and the
# interpreter check: the face detector's box enlarged about 1.5x, as MediaPipe crops
# before running this model. Measured by hand on the images (see README).
DEMO_BOXES = {
    "astronaut": (125, 18, 200),
    "camera": (65, 85, 140),
}


def crop(image, box, size: int = INPUT_SIZE):
    """Crop the square `box` = (x0, y0, side) out of a PIL image and resize it to size x size
    (bilinear, RGB). Returns a float32 numpy array [size, size, 3] in 0..1."""
    import numpy as np
    from PIL import Image

    x0, y0, side = box
    region = image.convert("RGB").crop((x0, y0, x0 + side, y0 + side))
    region = region.resize((size, size), Image.BILINEAR)
    return np.asarray(region, dtype=np.float32) / 255.0


def to_source(points, box, size: int = INPUT_SIZE):
    """Map landmark x, y from crop pixels back to the source image's pixels."""
    x0, y0, side = box
    out = points[..., :2] * (side / size)
    out[..., 0] += x0
    out[..., 1] += y0
    return out


# --------------------------------------------------------------------------- export

MODEL_FILE = "facemesh.pt"
CONTRACT_COMMENTS = (
    'contract "facemesh": image [N,3,192,192] RGB 0..1 (a square face crop)',
    "  -> landmarks [N,468,3] (x, y in pixels of the 192 crop, z relative depth), score [N] 0..1",
)


def _blake3(path: Path) -> str | None:
    """As wav2lip.file_blake3, without importing torch."""
    try:
        import blake3  # type: ignore
    except ImportError:
        return None
    return blake3.blake3(path.read_bytes()).hexdigest()


def exporter_stamp() -> str:
    """What the export depends on besides the .tflite: this exporter's code and torch's version.
    Read without importing torch, so `--if-stale` is quick."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for f in ("facemesh.py", "facemesh_model.py"):
        h.update((HERE / f).read_bytes())
    return f"exporter sha256:{h.hexdigest()[:16]} v{EXPORT_VERSION} torch {version('torch')}"


def source_line() -> str:
    return f"{WHEEL_REQUIREMENT} {MEMBER} sha256:{TFLITE_SHA256}"


def up_to_date(out_dir: Path) -> tuple[bool, str]:
    """Whether out_dir holds an export made by this exporter from the pinned .tflite."""
    import tomllib

    toml, pt = out_dir / "model.toml", out_dir / MODEL_FILE
    if not toml.is_file() or not pt.is_file():
        return False, f"no {pt if toml.is_file() else toml}"
    text = toml.read_text()
    if f"# {exporter_stamp()}\n" not in text:
        return False, "made by another version of the exporter (or of torch)"
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return False, f"model.toml: {e}"
    if meta.get("source") != source_line() or meta.get("file") != MODEL_FILE:
        return False, "model.toml names another source or file"
    if "blake3" in meta and _blake3(pt) != meta["blake3"]:
        return False, f"{MODEL_FILE} does not match its blake3 pin"
    return True, "up to date"


def export(*, out_dir: Path, tflite: Path | None = None, batch_size: int = DEFAULT_BATCH,
           quiet: bool = False) -> dict:
    """Fetch (if needed) and read the .tflite, build the module, trace it, check the trace,
    save <out_dir>/facemesh.pt and model.toml."""
    import torch

    sys.path.insert(0, str(HERE))
    import facemesh_model as fmm
    from wav2lip import save_module, write_model_toml

    tflite = fetch_tflite(tflite or out_dir / TFLITE_NAME, quiet=quiet)
    model, graph = fmm.build(tflite)
    n_params = fmm.param_count(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        example = torch.rand(TRACE_BATCH, 3, INPUT_SIZE, INPUT_SIZE, generator=gen)
        traced = torch.jit.trace(model, example)
        for b in VERIFY_BATCHES:
            x = torch.rand(b, 3, INPUT_SIZE, INPUT_SIZE, generator=gen)
            (le, se), (lt, st) = model(x), traced(x)
            assert le.shape == (b, NUM_LANDMARKS, 3) and se.shape == (b,), (le.shape, se.shape)
            err = max((le - lt).abs().max().item(), (se - st).abs().max().item())
            if err > 1e-4:
                raise SystemExit(f"error: traced module differs from eager at batch {b}: {err:.3g}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / MODEL_FILE
    save_module(traced, pt)
    meta = write_model_toml(out_dir, writer="tools/export/facemesh.py", file=MODEL_FILE,
                            contract="facemesh", precision="fp32", batch_size=batch_size,
                            source=source_line(), kind="landmarks",
                            comments=(exporter_stamp(), *CONTRACT_COMMENTS))
    if not quiet:
        print(f"facemesh ({graph.description}): {n_params:,} parameters "
              f"(= the {graph.num_weights():,} float16 weights of {tflite.name})")
        print(f"traced in fp32 at batch {TRACE_BATCH}; matches eager at batches "
              f"{', '.join(map(str, VERIFY_BATCHES))}")
        print(f"wrote {pt} ({pt.stat().st_size:,} bytes) and {out_dir / 'model.toml'}")
    return {"params": n_params, "pt": pt, "toml": out_dir / "model.toml", "model": model,
            "blake3": meta["blake3"], "tflite": tflite}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Export MediaPipe's face landmark model to TorchScript.")
    p.add_argument("--out", type=Path, required=True, help="output folder, e.g. models/facemesh")
    p.add_argument("--tflite", type=Path,
                   help=f"face_landmark.tflite to use (default OUT/{TFLITE_NAME}, "
                        f"downloaded from the {WHEEL_REQUIREMENT} wheel when missing)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                   help=f"batch size recorded in model.toml (default {DEFAULT_BATCH})")
    p.add_argument("--if-stale", action="store_true",
                   help="do nothing when OUT already holds this exporter's export")
    p.add_argument("--check", action="store_true",
                   help="export nothing; exit 0 when OUT is up to date, 1 (saying why) when not")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    if args.check:
        ok, why = up_to_date(args.out)
        print(f"{args.out / MODEL_FILE}: {why}")
        return 0 if ok else 1
    if args.if_stale:
        ok, why = up_to_date(args.out)
        if ok:
            print(f"{args.out / MODEL_FILE}: up to date")
            return 0
        print(f"{args.out / MODEL_FILE}: {why}; exporting")
    export(out_dir=args.out, tflite=args.tflite, batch_size=args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
