#!/usr/bin/env python3
"""Builds tiny diffusers pipelines with random weights, for testing render's diffusers wrappers.

The wrappers in engines/diffusers-still and engines/svd-xt call diffusers exactly as they do on
a real SDXL or Stable Video Diffusion checkpoint: `from_pretrained` on a folder, LoRA loading,
the denoising loop, the VAE decode. No weights can be downloaded where the tests run, so this
script constructs the same classes (UNet, VAE, scheduler, CLIP text and image encoders,
tokenizers) from small configs, seeds their random initialisation, and saves each pipeline
with `save_pretrained`, as a downloaded checkpoint is laid out. Their pictures are noise; what
the tests check is what a wrapper controls: the bytes for a seed, the LoRA's effect, the frame
count and size.

    .venv-diffusers/bin/python tools/tiny-pipelines/make.py --out models/tiny-pipelines

makes, under --out:
    sdxl/                    a StableDiffusionXLPipeline (two CLIP text encoders, 64 px latents /2)
    svd/                     a StableVideoDiffusionPipeline (img2vid, like stable-video-diffusion-img2vid-xt)
    lora/tiny-lora.safetensors   a LoRA on the SDXL UNet's attention, saved as diffusers saves LoRAs
    sizes.json               parameters and bytes of each, for the docs

Deterministic: the same versions make the same files. `--check` exits 0 when everything is
there (so tools/setup runs it once).
"""

import argparse
import json
import os
import shutil
import sys

PARTS = ("sdxl/model_index.json", "svd/model_index.json", "lora/tiny-lora.safetensors", "sizes.json")


def tokenizer():
    """A CLIP tokenizer over single bytes (no merges): every text encodes, nothing is downloaded."""
    from transformers import CLIPTokenizer

    # CLIP's byte-to-unicode table: the 256 bytes as printable characters.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = list(printable), 0
    for b in range(256):
        if b not in printable:
            chars.append(256 + n)
            n += 1
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[chr(c)] = len(vocab)
        vocab[chr(c) + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77), len(vocab)


def text_config(vocab_size, projection_dim=32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, vocab_size=vocab_size,
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        layer_norm_eps=1e-5, hidden_act="gelu", projection_dim=projection_dim, max_position_embeddings=77,
    )


def sdxl(out):
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + text_encoder_2's 32
        cross_attention_dim=64, norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading", prediction_type="epsilon",
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4, sample_size=64, norm_num_groups=32, layers_per_block=1,
    )
    tok, vocab_size = tokenizer()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(text_config(vocab_size))
    text_encoder_2 = CLIPTextModelWithProjection(text_config(vocab_size))
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tok,
        tokenizer_2=tok, unet=unet, scheduler=scheduler,
    )
    pipe.save_pretrained(out)
    return pipe


def lora(pipe, out):
    """A rank-4 LoRA on the UNet's attention projections, non-zero (peft initialises B to zero,
    which would make any scale a no-op), saved as `save_lora_weights` writes a trained one."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    pipe.unet.add_adapter(config)
    layers = get_peft_model_state_dict(pipe.unet)
    with torch.no_grad():
        for name in layers:
            layers[name] = layers[name] * 4.0  # strong enough that its effect shows through noise
    StableDiffusionXLPipeline.save_lora_weights(out, unet_lora_layers=layers, weight_name="tiny-lora.safetensors")
    return sum(v.numel() for v in layers.values())


def svd(out):
    import torch
    from diffusers import (AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline,
                           UNetSpatioTemporalConditionModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=8,
        projection_class_embeddings_input_dim=96,  # 3 added time ids x 32
        addition_time_embed_dim=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4, layers_per_block=1,
    )
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32,  # SVD resizes to 224 itself
    ))
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    pipe = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler, feature_extractor=feature_extractor,
    )
    pipe.save_pretrained(out)
    return pipe


def params(pipe):
    import torch

    return sum(p.numel() for m in pipe.components.values() if isinstance(m, torch.nn.Module) for p in m.parameters())


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--check", action="store_true", help="exit 0 if everything is made, 1 otherwise")
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if all(os.path.exists(os.path.join(args.out, p)) for p in PARTS) else 1)

    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sizes = {}
    pipe = sdxl(os.path.join(tmp, "sdxl"))
    sizes["sdxl"] = {"parameters": params(pipe), "bytes": folder_bytes(os.path.join(tmp, "sdxl"))}
    lora_params = lora(pipe, os.path.join(tmp, "lora"))
    sizes["lora"] = {"parameters": lora_params, "bytes": folder_bytes(os.path.join(tmp, "lora"))}
    pipe = svd(os.path.join(tmp, "svd"))
    sizes["svd"] = {"parameters": params(pipe), "bytes": folder_bytes(os.path.join(tmp, "svd"))}
    with open(os.path.join(tmp, "sizes.json"), "w") as f:
        json.dump(sizes, f, indent=1)
    shutil.rmtree(args.out, ignore_errors=True)
    os.rename(tmp, args.out)
    for name, s in sizes.items():
        print("%s: %d parameters, %.2f MB" % (name, s["parameters"], s["bytes"] / 1e6))


if __name__ == "__main__":
    main()
