#!/usr/bin/env python3
"""Runs MuseTalk's scripts.inference for one render job, in the job's working folder (the cwd).

A wrapper, because scripts.inference alone cannot do the job:
- it takes its inputs only from a YAML file of tasks (video_path, audio_path): this writes
  one task, with result_name, into the working folder;
- it must run from the MuseTalk folder (python -m scripts.inference; models/... relative);
- it writes the video as <result_dir>/<version>/<result_name>: moved here to --out;
- it prints any error and carries on (exit status 0, no video): a missing video is an error;
- it runs ffmpeg through a shell with unquoted paths: a path it cannot pass is refused.
Standard library only; run it with MuseTalk's own venv python.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the MuseTalk checkout")
    parser.add_argument("--python", required=True, help="the python of MuseTalk's venv")
    parser.add_argument("--video", required=True, help="the avatar video (or image)")
    parser.add_argument("--audio", required=True, help="the speech WAV")
    parser.add_argument("--out", required=True, help="where the clip goes (an .mp4)")
    parser.add_argument("extra", nargs="*", help="after --: more scripts.inference options")
    args = parser.parse_args()

    work = os.getcwd()
    if not re.fullmatch(r"[\w./+-]+", work):
        sys.exit("render-musetalk: MuseTalk passes paths to a shell unquoted; this working "
                 "folder has a space or a special character: %s" % work)
    # Plain names: MuseTalk also names its frames folder after the video's name up to its first dot.
    video = os.path.join(work, "face" + (os.path.splitext(args.video)[1].lower() or ".mp4"))
    audio = os.path.join(work, "audio.wav")
    for target, name in ((args.video, video), (args.audio, audio)):
        if os.path.lexists(name):
            os.remove(name)
        os.symlink(os.path.abspath(target), name)

    config = os.path.join(work, "musetalk.yaml")
    with open(config, "w", encoding="utf-8") as f:
        # JSON strings are valid YAML double-quoted scalars.
        f.write("task_0:\n")
        f.write("  video_path: %s\n" % json.dumps(video, ensure_ascii=False))
        f.write("  audio_path: %s\n" % json.dumps(audio, ensure_ascii=False))
        f.write("  result_name: \"lipsync.mp4\"\n")

    results = os.path.join(work, "results")
    command = [
        args.python, "-m", "scripts.inference",
        "--inference_config", config,
        "--result_dir", results,
        *args.extra,
    ]
    print("render-musetalk: running", command, "in", args.repo, flush=True)
    code = subprocess.run(command, cwd=args.repo).returncode
    if code != 0:
        sys.exit(code)
    found = glob.glob(os.path.join(results, "*", "lipsync.mp4"))
    if len(found) != 1:
        sys.exit("render-musetalk: scripts.inference exited 0 but wrote %s (its error is above)"
                 % (found or "no video"))
    shutil.move(found[0], args.out)


if __name__ == "__main__":
    main()
