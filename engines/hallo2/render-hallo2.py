#!/usr/bin/env python3
"""Runs Hallo2's scripts/inference_long.py for one render job, in the job's working folder (the cwd).

A wrapper, because inference_long.py alone cannot do the job:
- it takes its output folder (save_path) only from its YAML config: this copies the config
  into the working folder with save_path and cache_path pointing there;
- that config's model paths (./pretrained_models/...) and a hard-coded face landmarker path
  are relative to the hallo2 folder, so it must run from there;
- it writes the video as <save_path>/<image name>/merge_video.mp4: moved here to --out.
Standard library only; run it with Hallo2's own venv python.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys


def set_key(text, key, value):
    """`text` (YAML) with its top-level `key` set to the string `value`."""
    line = "%s: %s" % (key, json.dumps(value, ensure_ascii=False))  # JSON strings are YAML scalars
    pattern = re.compile(r"^%s:.*$" % re.escape(key), re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _: line, text, count=1)
    return text.rstrip("\n") + "\n" + line + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the hallo2 checkout")
    parser.add_argument("--python", required=True, help="the python of Hallo2's venv")
    parser.add_argument("--config", required=True, help="the inference YAML to start from")
    parser.add_argument("--image", required=True, help="the avatar, a square portrait")
    parser.add_argument("--audio", required=True, help="the speech WAV")
    parser.add_argument("--out", required=True, help="where the clip goes (an .mp4)")
    args = parser.parse_args()

    work = os.getcwd()
    save = os.path.join(work, "hallo2")
    with open(args.config, encoding="utf-8") as f:
        text = f.read()
    text = set_key(text, "save_path", save)
    text = set_key(text, "cache_path", os.path.join(work, "cache"))
    config = os.path.join(work, "hallo2.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)

    image = os.path.abspath(args.image)
    command = [
        args.python, "scripts/inference_long.py",
        "--config", config,
        "--source_image", image,
        "--driving_audio", os.path.abspath(args.audio),
    ]
    print("render-hallo2: running", command, "in", args.repo, flush=True)
    code = subprocess.run(command, cwd=args.repo).returncode
    if code != 0:
        sys.exit(code)
    stem = os.path.splitext(os.path.basename(image))[0]
    result = os.path.join(save, stem, "merge_video.mp4")
    if not os.path.isfile(result):
        sys.exit("render-hallo2: inference_long.py exited 0 but wrote no %s" % result)
    shutil.move(result, args.out)


if __name__ == "__main__":
    main()
