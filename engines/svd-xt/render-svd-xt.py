#!/usr/bin/env python3
"""render's `shot` stage through Stable Video Diffusion (img2vid-xt) in Hugging Face diffusers.

SVD has no command line of its own (Stability's repo has Streamlit and a sampling script
that names its outputs by count); diffusers' StableVideoDiffusionPipeline is the usual way
to run it. This wrapper loads the pipeline folder --model, crops the start picture --image to
the asked aspect ratio and scales it to --width x --height, makes --frames frames with a
torch.Generator seeded by --seed, and encodes them with ffmpeg as an H.264 MP4 at --fps:
exactly --frames frames, each --width x --height, so render's frame check holds.

--fps is also SVD's fps micro-conditioning (the pipeline passes fps - 1 to the UNet, as it
was trained); --guidance is the last frame's classifier-free guidance (max_guidance_scale;
the first frame's is --min-guidance). Run by the diffusers venv's python (see README.md).
"""

import argparse
import os
import subprocess
import sys
from fractions import Fraction


def parse():
    p = argparse.ArgumentParser(description="a video from a picture with Stable Video Diffusion")
    p.add_argument("--model", required=True, help="a StableVideoDiffusionPipeline folder")
    p.add_argument("--image", required=True, help="the start picture")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--fps", required=True, help="frames per second: 25, or a fraction such as 30000/1001")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--guidance", type=float, required=True, help="max_guidance_scale (last frame)")
    p.add_argument("--min-guidance", type=float, default=1.0, help="min_guidance_scale (first frame)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--motion-bucket-id", type=int, default=127, help="more: more motion")
    p.add_argument("--noise-aug-strength", type=float, default=0.02)
    p.add_argument("--decode-chunk-size", type=int, default=8, help="frames the VAE decodes at once (memory)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), help="default: float16 on cuda, else float32")
    p.add_argument("--cpu-offload", action="store_true", help="enable_model_cpu_offload: small cards")
    p.add_argument("--out", required=True, help="the MP4 to write")
    args = p.parse_args()
    try:
        args.rate = Fraction(args.fps)
    except (ValueError, ZeroDivisionError):
        p.error("--fps %r is not a rate" % args.fps)
    if args.rate <= 0 or args.frames < 1:
        p.error("--fps and --frames must be positive")
    if args.width % 2 or args.height % 2:
        p.error("--width and --height must be even (H.264 4:2:0)")
    if not os.path.isfile(args.image):
        p.error("no such file: %s" % args.image)
    return args


def cropped(image, width, height):
    """The largest centred crop of `image` with the aspect ratio width:height, scaled to it."""
    from PIL import Image

    w, h = image.size
    if w * height > h * width:
        cw, ch = h * width // height, h
    else:
        cw, ch = w, w * height // width
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize((width, height), Image.LANCZOS)


def main():
    args = parse()
    import numpy as np
    import torch
    from diffusers import StableVideoDiffusionPipeline
    from PIL import Image

    dtype = getattr(torch, args.dtype or ("float16" if args.device.startswith("cuda") else "float32"))
    pipe = StableVideoDiffusionPipeline.from_pretrained(args.model, dtype=dtype)
    if args.cpu_offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(args.device)
    pipe.set_progress_bar_config(disable=True)
    picture = cropped(Image.open(args.image).convert("RGB"), args.width, args.height)
    frames = pipe(
        picture,
        width=args.width,
        height=args.height,
        num_frames=args.frames,
        num_inference_steps=args.steps,
        min_guidance_scale=args.min_guidance,
        max_guidance_scale=args.guidance,
        fps=max(1, round(float(args.rate))),
        motion_bucket_id=args.motion_bucket_id,
        noise_aug_strength=args.noise_aug_strength,
        decode_chunk_size=args.decode_chunk_size,
        generator=torch.Generator(device="cpu" if args.cpu_offload else args.device).manual_seed(args.seed),
        output_type="np",
    ).frames[0]
    if frames.shape != (args.frames, args.height, args.width, 3):
        sys.exit("render-svd-xt: the pipeline made frames of shape %s, not %s"
                 % (frames.shape, (args.frames, args.height, args.width, 3)))
    raw = (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8).tobytes()
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "%dx%d" % (args.width, args.height),
        "-framerate", str(args.rate), "-i", "-",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", "-threads", "1", args.out,
    ]
    done = subprocess.run(command, input=raw)
    if done.returncode != 0:
        sys.exit("render-svd-xt: ffmpeg failed (exit %d)" % done.returncode)


if __name__ == "__main__":
    main()
