"""Baseline for `render bench`: plain Python torch running the same TorchScript file with
the same batch on the same device and precision (FP16 on CUDA, FP32 on CPU), including the
host-to-device copy of the inputs and the copy of the output back, as render does.

Prints one JSON line: {"fps": ..., "frames": ..., "batch": ..., "device": ...}.
"""

import argparse
import json
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    module = torch.jit.load(args.model, map_location=device).to(dtype).eval()

    generator = torch.Generator().manual_seed(0)
    mel = torch.rand(args.frames, 1, 80, 16, generator=generator) * 8 - 4
    faces = torch.rand(args.frames, 6, 96, 96, generator=generator)

    def run(start, end):
        m = mel[start:end].to(device).to(dtype)
        f = faces[start:end].to(device).to(dtype)
        out = module(m, f)
        return out.float().cpu()

    with torch.inference_mode():
        for _ in range(2):  # warm-up: allocator, cuDNN autotune, TorchScript profiling
            run(0, min(args.batch, args.frames))
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for s in range(0, args.frames, args.batch):
            run(s, min(s + args.batch, args.frames))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start

    print(json.dumps({
        "fps": args.frames / seconds,
        "frames": args.frames,
        "batch": args.batch,
        "device": str(device),
        "seconds": seconds,
    }))


if __name__ == "__main__":
    main()
