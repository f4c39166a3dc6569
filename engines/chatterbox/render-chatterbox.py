#!/usr/bin/env python3
"""Speaks one render line with Chatterbox, cloning the voice from its reference clip.

A wrapper, because the chatterbox-tts package has no command line: it is a Python API
(`ChatterboxTTS.from_pretrained(device).generate(text, audio_prompt_path=...)`, as its
README shows). This script reads the line from a file (so no text is ever taken for an
option), seeds torch from render's {seed} (generation samples at temperature 0.8: the same
job makes the same speech), and writes a 16-bit PCM WAV at the model's rate (24 kHz) with
the standard library, so no extra package is needed.
Run it with the python of the venv chatterbox-tts is installed in.
"""

import argparse
import struct
import sys
import wave


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-file", required=True, help="the line's text, UTF-8")
    parser.add_argument("--reference", required=True, nargs="+", help="the voice's sample")
    parser.add_argument("--device", default="cuda", help="cuda, cpu or mps")
    parser.add_argument("--seed", type=int, default=0, help="torch's seed")
    parser.add_argument("--exaggeration", type=float, default=0.5)
    parser.add_argument("--cfg-weight", type=float, default=0.5)
    parser.add_argument("--out", required=True, help="the WAV to write")
    args = parser.parse_args()
    if len(args.reference) != 1:
        sys.exit(
            "render-chatterbox: Chatterbox clones a voice from one reference clip; this voice "
            "gives %d samples (keep one clip of about 10 s in its `samples`)" % len(args.reference)
        )

    import torch
    from chatterbox.tts import ChatterboxTTS

    with open(args.text_file, encoding="utf-8") as f:
        text = f.read().strip()
    torch.manual_seed(args.seed)
    model = ChatterboxTTS.from_pretrained(device=args.device)
    wav = model.generate(
        text,
        audio_prompt_path=args.reference[0],
        exaggeration=args.exaggeration,
        cfg_weight=args.cfg_weight,
    )
    samples = wav.squeeze(0).tolist()
    pcm = struct.pack(
        "<%dh" % len(samples), *(int(max(-1.0, min(1.0, s)) * 32767) for s in samples)
    )
    with wave.open(args.out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(model.sr)
        w.writeframes(pcm)
    print("render-chatterbox: %d samples at %d Hz to %s" % (len(samples), model.sr, args.out))


if __name__ == "__main__":
    main()
