#!/usr/bin/env python3
"""Runs EchoMimicV3-Flash's infer_flash.py for one render job, in the job's working folder.

A wrapper, because infer_flash.py alone cannot do the job:
- it makes min(int(seconds * fps), --video_length) frames, rounded down to 4k + 1 (its VAE's
  temporal stride), and cuts the audio to them: its video ends up to 4 frames (160 ms)
  before the speech, which render refuses as a broken clip. The wrapper pads the speech with
  silence to a length whose frame count is 4k + 1 and covers the whole line, and passes that
  count as --video_length (so its default cap, 81 frames = 3.2 s, never cuts a line);
- its audio features are computed at 25 fps whatever --fps says, so --fps is always 25;
- it names its video after the picture (<save_path>/<image name>_output.mp4) and skips the
  job if that file exists: it writes into a fresh outputs/ here and the video is moved to
  --out.
Standard library only; run it with EchoMimicV3's own venv python.
"""

import argparse
import math
import os
import subprocess
import sys
import wave

FPS = 25  # infer_flash.py's get_audio_embed and its audio cut assume 25 frames a second
STRIDE = 4  # the Wan VAE's temporal compression: a video has 4k + 1 frames


def frames_to_make(seconds):
    """The fewest frames of 4k + 1 that cover `seconds` of speech at 25 fps."""
    need = max(1, math.ceil(seconds * FPS - 1e-6))
    return need if need % STRIDE == 1 else need + (STRIDE + 1 - need % STRIDE) % STRIDE


def pad(speech, padded, frames):
    """Writes `speech` followed by silence, (frames + 0.5) / 25 s long in all, so that
    int(duration * 25) is exactly `frames`; returns the speech's length in seconds."""
    with wave.open(speech, "rb") as w:
        params = w.getparams()
        samples = w.readframes(params.nframes)
    seconds = params.nframes / params.framerate
    total = round((frames + 0.5) / FPS * params.framerate)
    silence = b"\x00" * ((total - params.nframes) * params.sampwidth * params.nchannels)
    with wave.open(padded, "wb") as w:
        w.setparams(params)
        w.writeframes(samples + silence)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the echomimic_v3 checkout")
    parser.add_argument("--python", required=True, help="the python of EchoMimicV3's venv")
    parser.add_argument("--image", required=True, help="the avatar's picture")
    parser.add_argument("--audio", required=True, help="the speech WAV (16-bit PCM)")
    parser.add_argument("--out", required=True, help="where the clip goes (an .mp4)")
    parser.add_argument("extra", nargs="*", help="after --: more infer_flash.py options")
    args = parser.parse_args()

    with wave.open(args.audio, "rb") as w:
        seconds = w.getnframes() / w.getframerate()
    frames = frames_to_make(seconds)
    pad(args.audio, "speech.wav", frames)
    command = [
        args.python, os.path.join(args.repo, "infer_flash.py"),
        "--image_path", args.image,
        "--audio_path", os.path.abspath("speech.wav"),
        "--save_path", os.path.abspath("outputs"),
        "--video_length", str(frames),
        "--fps", str(FPS),
        *args.extra,
    ]
    print("render-echomimic: %.3f s of speech, %d frames; running %r" % (seconds, frames, command), flush=True)
    code = subprocess.run(command).returncode
    if code != 0:
        sys.exit(code)
    name = os.path.basename(args.image).split(".")[0]
    made = os.path.join("outputs", name + "_output.mp4")
    if not os.path.isfile(made):
        sys.exit("render-echomimic: infer_flash.py exited 0 but wrote no %s" % made)
    os.replace(made, args.out)


if __name__ == "__main__":
    main()
