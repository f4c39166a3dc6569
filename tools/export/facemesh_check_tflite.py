#!/usr/bin/env python3
"""Developer check: the PyTorch FaceMesh against TFLite's own interpreter.

Not part of setup or the tests (it needs a TFLite interpreter, which render never does).
Make a throwaway venv with the interpreter, then run this with .venv's Python:

    python3 -m venv /tmp/tflite-venv
    /tmp/tflite-venv/bin/pip install ai-edge-litert numpy
    .venv/bin/python tools/export/facemesh_check_tflite.py --interpreter-python /tmp/tflite-venv/bin/python

It crops the demo portraits (facemesh.DEMO_BOXES) plus a few variations (mirrored, darker,
noisy, shifted/zoomed boxes, rotated), runs both implementations on the same float32
inputs and prints the largest absolute difference of the 1404 landmark values (pixels of
the 192x192 crop) and of the face score, per input. Exits 1 above --tolerance (1e-3).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
import facemesh as fm  # noqa: E402
import facemesh_model as fmm  # noqa: E402

# Runs in the interpreter's venv: reads inputs.npy [N,192,192,3], writes the raw outputs.
INTERPRETER = r"""
import sys
import numpy as np
try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:
    from tflite_runtime.interpreter import Interpreter, OpResolverType
model, inputs, out, resolver = sys.argv[1:5]
kw = {}
if resolver == "reference":
    kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
it = Interpreter(model_path=model, **kw)
it.allocate_tensors()
x = np.load(inputs)
(inp,) = it.get_input_details()
outs = {d["name"]: d["index"] for d in it.get_output_details()}
mesh, flag = [], []
for img in x:
    it.set_tensor(inp["index"], img[None].astype(np.float32))
    it.invoke()
    mesh.append(it.get_tensor(outs["conv2d_21"]).reshape(-1))
    flag.append(it.get_tensor(outs["conv2d_31"]).reshape(-1))
np.savez(out, mesh=np.stack(mesh), flag=np.stack(flag))
"""


def inputs() -> tuple[list[str], np.ndarray]:
    names, crops = [], []
    rng = np.random.default_rng(0)
    for name, (x0, y0, side) in fm.DEMO_BOXES.items():
        img = Image.open(ROOT / "avatars" / f"{name}.png").convert("RGB")
        variants = {
            "": (img, (x0, y0, side)),
            "mirrored": (img.transpose(Image.FLIP_LEFT_RIGHT), (img.width - x0 - side, y0, side)),
            "shifted": (img, (x0 + side // 10, y0 - side // 12, side)),
            "zoomed-out": (img, (x0 - side // 8, y0 - side // 8, side + side // 4)),
            "rotated-15": (img.rotate(15, resample=Image.BILINEAR,
                                      center=(x0 + side / 2, y0 + side / 2)), (x0, y0, side)),
        }
        for v, (im, box) in variants.items():
            names.append(f"{name} {v}".strip())
            crops.append(fm.crop(im, box))
        a = fm.crop(img, (x0, y0, side))
        names.append(f"{name} darker")
        crops.append(a * 0.6)
        names.append(f"{name} noisy")
        crops.append(np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32))
    names.append("uniform noise")
    crops.append(rng.random((192, 192, 3), dtype=np.float32))
    return names, np.stack(crops).astype(np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interpreter-python", required=True,
                   help="a Python with ai-edge-litert (or tflite-runtime) and numpy")
    p.add_argument("--tflite", type=Path, default=ROOT / "models/facemesh" / fm.TFLITE_NAME)
    p.add_argument("--resolver", choices=("default", "reference"), default="default",
                   help="TFLite kernels: default (XNNPACK) or the reference kernels")
    p.add_argument("--tolerance", type=float, default=1e-3)
    args = p.parse_args(argv)

    tflite = fm.fetch_tflite(args.tflite)
    model, _ = fmm.build(tflite)
    names, x = inputs()
    with torch.no_grad():
        mesh, flag = model.forward_raw(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    mesh, flag = mesh.numpy(), flag.numpy()

    with tempfile.TemporaryDirectory(prefix="facemesh-check-") as tmp:
        np.save(f"{tmp}/inputs.npy", x)
        subprocess.run([args.interpreter_python, "-c", INTERPRETER, str(tflite),
                        f"{tmp}/inputs.npy", f"{tmp}/out.npz", args.resolver], check=True)
        ref = np.load(f"{tmp}/out.npz")
        ref_mesh, ref_flag = ref["mesh"], ref["flag"]

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    worst = 0.0
    print(f"{'input':<22} {'max |d| landmarks':>18} {'max |d| score':>14} {'score':>7}")
    for i, n in enumerate(names):
        dm = float(np.abs(mesh[i] - ref_mesh[i]).max())
        ds = float(np.abs(sig(flag[i]) - sig(ref_flag[i])).max())
        worst = max(worst, dm)
        print(f"{n:<22} {dm:>18.2e} {ds:>14.2e} {float(sig(ref_flag[i][0])):>7.3f}")
    print(f"{len(names)} inputs, TFLite {args.resolver} kernels: max abs difference "
          f"{worst:.2e} px (landmarks, of 192), tolerance {args.tolerance:g}")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
