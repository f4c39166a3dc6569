#!/usr/bin/env python3
"""Serves one Piper voice behind OpenAI's speech API, for render's `openai-speech` engines.

Piper 1.8's own server (`python -m piper.http_server`) needs Flask, which a plain
`pip install piper-tts` does not bring, and answers `POST /synthesize` with `{"text": ...}`
rather than `POST /v1/audio/speech` with `{"input": ...}`. This bridge is the smallest
thing render can drive: the standard library's HTTP server and Piper's own Python API,
loading the voice once and then making each line exactly as `python -m piper --input-file`
does (the text's lines stripped and spoken in turn, the same default synthesis settings,
the same 16-bit WAV), so a line's WAV is byte for byte the command line's.

    POST /v1/audio/speech  {"input": "...", "model": "piper", "voice": ..., "response_format": "wav"}
    GET  /health           200 once the voice is loaded

Requests are served one at a time (espeak-ng, which phonemises, is not thread-safe).
Run it with the python of the venv piper-tts is installed in.
"""

import argparse
import io
import json
import sys
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the voice's .onnx (its .onnx.json beside it)")
    parser.add_argument("--port", type=int, required=True, help="the loopback port to listen on")
    args = parser.parse_args()

    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(args.model)
    # What `python -m piper` passes when given no synthesis options.
    config = SynthesisConfig(
        speaker_id=None,
        length_scale=None,
        noise_scale=None,
        noise_w_scale=None,
        normalize_audio=True,
        volume=1.0,
    )
    lock = threading.Lock()

    def speak(text):
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            params_set = False
            for line in text.splitlines():
                line = line.strip()
                if not line:
                    continue
                for chunk in voice.synthesize(line, config):
                    if not params_set:
                        wav.setframerate(chunk.sample_rate)
                        wav.setsampwidth(chunk.sample_width)
                        wav.setnchannels(chunk.sample_channels)
                        params_set = True
                    wav.writeframes(chunk.audio_int16_bytes)
        return out.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, body, kind):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def refuse(self, status, message):
            body = json.dumps({"error": {"message": message}}).encode()
            self.answer(status, body, "application/json")

        def do_GET(self):
            if self.path == "/health":
                self.answer(200, b'{"status": "ok"}', "application/json")
            else:
                self.refuse(404, "no such path: " + self.path)

        def do_POST(self):
            if self.path != "/v1/audio/speech":
                return self.refuse(404, "no such path: " + self.path)
            try:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                text = request["input"]
            except (ValueError, KeyError, TypeError) as e:
                return self.refuse(400, "a JSON body with an \"input\" string is needed: %s" % e)
            if request.get("response_format", "wav") != "wav":
                return self.refuse(400, "only response_format \"wav\" is served")
            with lock:
                try:
                    body = speak(text)
                except Exception as e:  # the line fails with this, not the server
                    return self.refuse(500, "piper could not speak the line: %r" % e)
            if len(body) <= 44:
                return self.refuse(400, "nothing to speak in %r" % text)
            self.answer(200, body, "audio/wav")

        def log_message(self, format, *args):
            sys.stderr.write("render-piper-server: %s\n" % (format % args))

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("render-piper-server: %s loaded, listening on 127.0.0.1:%d" % (args.model, args.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
