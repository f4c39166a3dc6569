#!/usr/bin/env python3
"""Runs Wav2Lip's inference.py for one render job, in the job's working folder (the cwd).

A wrapper, because inference.py alone cannot do the job:
- it writes temp/result.avi relative to the cwd, and temp/ must already exist;
- it tells an image from a video by path.split('.')[1] and runs its last ffmpeg step as a
  shell string, so a dot in a folder name or a space in a path breaks it: the inputs are
  linked into the working folder under plain names and given as relative paths;
- it ignores that ffmpeg step's exit status: a missing result is an error here;
- its video ends about 3 frames before the audio (no frame starts in the last 16 mel
  frames): the last frame is held so the clip lasts exactly as long as the speech.
Standard library only; run it with Wav2Lip's own venv python.
"""

import argparse
import os
import subprocess
import sys


def seconds(path):
    """Duration of a media file, from ffprobe."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=True,
    )
    return float(probe.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the Wav2Lip checkout")
    parser.add_argument("--python", required=True, help="the python of Wav2Lip's venv")
    parser.add_argument("--checkpoint", required=True, help="wav2lip.pth or wav2lip_gan.pth")
    parser.add_argument("--face", required=True, help="the avatar video (or image)")
    parser.add_argument("--audio", required=True, help="the speech WAV")
    parser.add_argument("--out", required=True, help="where the clip goes (an .mp4)")
    parser.add_argument("extra", nargs="*", help="after --: more inference.py options")
    args = parser.parse_args()

    os.makedirs("temp", exist_ok=True)
    face = "face" + (os.path.splitext(args.face)[1].lower() or ".mp4")
    for target, name in ((args.face, face), (args.audio, "audio.wav")):
        if os.path.lexists(name):
            os.remove(name)
        os.symlink(os.path.abspath(target), name)

    command = [
        args.python, os.path.join(args.repo, "inference.py"),
        "--checkpoint_path", args.checkpoint,
        "--face", face, "--audio", "audio.wav", "--outfile", "lipsync.mp4",
        *args.extra,
    ]
    print("render-wav2lip: running", command, flush=True)
    code = subprocess.run(command).returncode
    if code != 0:
        sys.exit(code)
    if not os.path.isfile("lipsync.mp4"):
        sys.exit("render-wav2lip: inference.py exited 0 but wrote no lipsync.mp4 (see its ffmpeg output above)")

    # Hold the last frame (1 s is more than Wav2Lip ever falls short) and cut at the speech's end.
    fit = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-i", "lipsync.mp4", "-vf", "tpad=stop_mode=clone:stop_duration=1",
        "-t", "%.6f" % seconds(args.audio),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", args.out,
    ]
    sys.exit(subprocess.run(fit).returncode)


if __name__ == "__main__":
    main()
