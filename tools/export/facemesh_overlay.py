#!/usr/bin/env python3
"""Draw the exported face landmarks over the demo portraits (a picture to check by eye).

    .venv/bin/python tools/export/facemesh_overlay.py [--model models/facemesh/facemesh.pt] \
        [--out docs/facemesh-overlay.png]

Each portrait's face box (facemesh.DEMO_BOXES) is cropped to 192x192, run through the
TorchScript model, and drawn at twice the size of the box: all 468 points in cyan, the points
the tests check ringed (eye corners red/blue, nose tip yellow, lips green, mouth corners
magenta), and the hand-checked points of tools/export/test_export.py as white crosses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageColor, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
import facemesh as fm  # noqa: E402
import test_export as te  # noqa: E402

RINGS = {33: "red", 133: "red", 362: "blue", 263: "blue", 1: "yellow", 13: "lime", 14: "lime",
         61: "magenta", 291: "magenta"}
SCALE = 2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "models/facemesh" / fm.MODEL_FILE)
    p.add_argument("--out", type=Path, default=ROOT / "docs/facemesh-overlay.png")
    args = p.parse_args(argv)

    model = torch.jit.load(str(args.model))
    hand = {"astronaut": [v for v in te.ASTRONAUT_POINTS.values()],
            "camera": [v for v in te.CAMERA_POINTS.values()]}
    panels, palettes = [], []
    for name, box in fm.DEMO_BOXES.items():
        img = Image.open(ROOT / "avatars" / f"{name}.png").convert("RGB")
        x = torch.from_numpy(fm.crop(img, box)).permute(2, 0, 1)[None]
        with torch.no_grad():
            lm, score = model(x)
        pts = fm.to_source(lm[0].numpy().copy(), box)
        x0, y0, side = box
        panel = img.crop((x0, y0, x0 + side, y0 + side)).resize(
            (side * SCALE, side * SCALE), Image.LANCZOS)
        palettes.append(panel.quantize(180, dither=Image.Dither.NONE).getpalette()[:180 * 3])
        d = ImageDraw.Draw(panel)
        at = lambda p: ((p[0] - x0) * SCALE, (p[1] - y0) * SCALE)  # noqa: E731
        for q in pts:
            u, v = at(q)
            d.rectangle((u, v, u, v), fill="cyan")
        for k, colour in RINGS.items():
            u, v = at(pts[k])
            d.ellipse((u - 3, v - 3, u + 3, v + 3), outline=colour, width=1)
        for q in hand[name]:
            u, v = at(q)
            d.line((u - 3, v, u + 3, v), fill="white")
            d.line((u, v - 3, u, v + 3), fill="white")
        d.text((4, 4), f"{name}  score {score.item():.3f}", fill="white")
        panels.append(panel)
    h = max(pn.height for pn in panels)
    sheet = Image.new("RGB", (sum(pn.width for pn in panels) + 4 * (len(panels) - 1), h), "black")
    x = 0
    for pn in panels:
        sheet.paste(pn, (x, 0))
        x += pn.width + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # A 256-colour palette keeps the committed picture small: 180 colours of the astronaut's
    # photo, 64 greys (camera.png is grey) and the exact colours of the marks.
    marks = [ImageColor.getrgb(c) for c in ("cyan", "white", "black", *sorted(set(RINGS.values())))]
    greys = [(g * 255 // 63,) * 3 for g in range(64)]
    pal = Image.new("P", (1, 1))
    pal.putpalette(palettes[0] + [v for rgb in greys + marks for v in rgb])
    sheet.quantize(palette=pal, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
