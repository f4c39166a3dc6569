#!/usr/bin/env python3
"""Write tiny TorchScript lip-sync fixtures for render's Rust tests.

    python tools/export/fixtures.py --out DIR

DIR/<name>/<name>.pt + DIR/<name>/model.toml for each of:

  tiny-lipsync   wav2lip contract; reference face (channels 3..6) with the lower
                 half darkened by 0.25 x mean |mel| (clamped to 0..1)
  slow-lipsync   a second, distinct model: same, darkened by 0.125 x mean |mel|
  bad-shape      same inputs, returns [B,3,48,48] (contract violation)

All are scripted (any batch size), CPU FP32, weightless and a few KB.  Output is
byte-for-byte reproducible for a given torch version: the zip entries carry fixed
timestamps, and the module source is compiled under its repository-relative path,
so the stored debug information does not depend on where the checkout lives.
"""

from __future__ import annotations

import argparse
import linecache
import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from wav2lip import save_module, write_model_toml  # noqa: E402

MODULES_FILE = HERE / "fixture_modules.py"
MODULES_NAME = "tools/export/fixture_modules.py"  # name recorded in TorchScript debug info

FIXTURES = [
    # (folder, class, batch_size, description)
    ("tiny-lipsync", "TinyLipsync", 4, "darkens the lower half by 0.25 x mean |mel|"),
    ("slow-lipsync", "SlowLipsync", 4, "darkens the lower half by 0.125 x mean |mel|"),
    ("bad-shape", "BadShape", 4, "returns [B,3,48,48] (contract violation)"),
]


def load_fixture_modules() -> types.ModuleType:
    """Import fixture_modules.py with a checkout-independent file name."""
    source = MODULES_FILE.read_text()
    linecache.cache[MODULES_NAME] = (len(source), None, source.splitlines(True), MODULES_NAME)
    mod = types.ModuleType("render_fixture_modules")
    mod.__file__ = MODULES_NAME
    sys.modules[mod.__name__] = mod
    exec(compile(source, MODULES_NAME, "exec"), mod.__dict__)
    return mod


def write_fixtures(out: Path, quiet: bool = False) -> list[Path]:
    mods = load_fixture_modules()
    written = []
    for folder, cls_name, batch_size, desc in FIXTURES:
        module = torch.jit.script(getattr(mods, cls_name)().eval())
        d = out / folder
        d.mkdir(parents=True, exist_ok=True)
        file = f"{folder}.pt"
        save_module(module, d / file)
        write_model_toml(d, writer="tools/export/fixtures.py", file=file, contract="wav2lip",
                         precision="fp32", batch_size=batch_size,
                         source=f"fixture {cls_name} (tools/export/fixture_modules.py)")
        written.append(d)
        if not quiet:
            size = (d / file).stat().st_size
            print(f"wrote {d / file} ({size:,} bytes): {desc}")
            print(f"wrote {d / 'model.toml'}")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write tiny TorchScript fixtures for render's tests.")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    args = p.parse_args(argv)
    write_fixtures(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
