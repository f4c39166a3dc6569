#!/usr/bin/env python3
"""render's `still` stage through Hugging Face diffusers: one picture from a prompt.

diffusers has no command line; this wrapper is the few calls a script makes, with render's
placeholders as flags. It loads the pipeline folder given by --model with
AutoPipelineForText2Image (SDXL, SD 1.5, Flux, ...: whatever its model_index.json names),
loads each --lora file under its own adapter name and sets the --lora-scales with
set_adapters, seeds a torch.Generator on the job's device with --seed, and saves the first
picture as a PNG at --out. With --image it runs the image-to-image pipeline of the same
components (AutoPipelineForImage2Image.from_pipe) from that picture, at --strength.

Run by the diffusers venv's python (see README.md). Exit status 2 on a bad argument, 1 when
the model fails (the traceback is in the job's program.log).
"""

import argparse
import os
import sys


def parse():
    p = argparse.ArgumentParser(description="one picture from a prompt with a diffusers pipeline")
    p.add_argument("--model", required=True, help="a pipeline folder (save_pretrained / a Hub snapshot)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default="", help="empty: none")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--guidance", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--loras", nargs="*", default=[], help="LoRA .safetensors files, in order")
    p.add_argument("--lora-scales", nargs="*", type=float, default=[], help="one scale per LoRA")
    p.add_argument("--image", help="a reference picture: image-to-image from it")
    p.add_argument("--strength", type=float, default=0.6, help="with --image: how far from it (0-1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), help="default: float16 on cuda, else float32")
    p.add_argument("--cpu-offload", action="store_true", help="enable_model_cpu_offload: small cards")
    p.add_argument("--out", required=True, help="the PNG to write")
    args = p.parse_args()
    if len(args.loras) != len(args.lora_scales):
        p.error("%d --loras but %d --lora-scales" % (len(args.loras), len(args.lora_scales)))
    for f in args.loras + ([args.image] if args.image else []):
        if not os.path.isfile(f):
            p.error("no such file: %s" % f)
    if not 0.0 < args.strength <= 1.0:
        p.error("--strength must be in (0, 1]")
    return args


def main():
    args = parse()
    import torch
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
    from PIL import Image

    dtype = getattr(torch, args.dtype or ("float16" if args.device.startswith("cuda") else "float32"))
    pipe = AutoPipelineForText2Image.from_pretrained(args.model, dtype=dtype)
    names = []
    for i, lora in enumerate(args.loras):
        name = "lora%d" % i  # one adapter per file, so each keeps its own scale
        pipe.load_lora_weights(lora, adapter_name=name)
        names.append(name)
    if names:
        pipe.set_adapters(names, adapter_weights=args.lora_scales)
        # Which adapters diffusers reports active, for program.log (and the tests).
        print("render-diffusers-still: LoRA adapters %s" % pipe.get_active_adapters(), flush=True)
    if args.image:
        pipe = AutoPipelineForImage2Image.from_pipe(pipe)
    if args.cpu_offload:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(args.device)
    pipe.set_progress_bar_config(disable=True)

    call = dict(
        prompt=args.prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator(device="cpu" if args.cpu_offload else args.device).manual_seed(args.seed),
    )
    if args.negative_prompt:
        call["negative_prompt"] = args.negative_prompt
    if args.image:
        picture = Image.open(args.image).convert("RGB").resize((args.width, args.height), Image.LANCZOS)
        call.update(image=picture, strength=args.strength)
        if args.steps * args.strength < 1:
            sys.exit("render-diffusers-still: --steps %d at --strength %g runs no step" % (args.steps, args.strength))
    else:
        call.update(width=args.width, height=args.height)
    image = pipe(**call).images[0]
    if image.size != (args.width, args.height):
        sys.exit("render-diffusers-still: the pipeline made %dx%d, not %dx%d" % (image.size + (args.width, args.height)))
    image.save(args.out, format="PNG")


if __name__ == "__main__":
    main()
