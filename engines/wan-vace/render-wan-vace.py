#!/usr/bin/env python3
"""render's pose-guided `shot` stage through Wan2.1-VACE (generate.py --task vace-*).

VACE follows a control video (here the pose video of render's `pose` stage, made by VACE's
own DWPose annotator) and keeps the look of a reference picture. Its generate.py does not
take the control video's frames as they are: it resamples it to 16 fps and makes as many
4n+1 frames as the video's duration covers (wan/utils/vace_processor.py,
_get_frameid_bbox_default), so a pose video at 25 fps, or of another length, would give a
shot of another frame count than render asked for. This wrapper (Python 3 standard library
and ffmpeg) first re-times the pose video to exactly what that code reads as --frames
frames: its first --frames + 2 frames, one per 1/16 s (the last frame held when it is
shorter), then runs generate.py with --src_video on that file and every other argument as
given. The re-timed video is `control.mp4` in the job's folder.

    render-wan-vace.py --pose POSE.mp4 --frames N -- PYTHON GENERATE.PY ARGS...
"""

import argparse
import os
import subprocess
import sys

RATE = 16  # Wan2.1's sample_fps: what VACE resamples its control video to


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pose", required=True, help="the pose video")
    p.add_argument("--frames", type=int, required=True, help="the shot's frames (4n+1)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- python generate.py ...")
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if len(command) < 2:
        p.error("no generate.py command after --")
    if args.frames < 1 or args.frames % 4 != 1:
        p.error("--frames %d is not of the form 4n+1" % args.frames)
    if not os.path.isfile(args.pose):
        p.error("no such file: %s" % args.pose)

    # VACE counts (int(duration * 16) - 1) // 4 + 1 latent frames, duration being the middle
    # of the last frame: frames + 2 frames at 16 fps give exactly `frames` output frames
    # (any of frames + 1 .. frames + 4 would; + 2 keeps clear of both ends).
    control = os.path.abspath("control.mp4")
    count = args.frames + 2
    retime = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", args.pose,
        "-vf", "tpad=stop_mode=clone:stop=%d,setpts=N/(%d*TB)" % (count, RATE),
        "-r", str(RATE), "-frames:v", str(count), "-an",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", control,
    ]
    if subprocess.run(retime).returncode != 0:
        sys.exit("render-wan-vace: ffmpeg could not re-time %s" % args.pose)
    sys.stdout.flush()
    os.execv(command[0], command + ["--src_video", control])


if __name__ == "__main__":
    main()
