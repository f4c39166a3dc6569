//! Speech from a server that speaks OpenAI's `/v1/audio/speech` (`kind = "openai-speech"`,
//! declared in `manifest/openai_speech.rs`): one POST per line, or per piece of a line
//! split by `max_chars`, whose WAV (or raw PCM) then goes through the same checks as a
//! program's (`engine/command.rs`: it must parse, hold samples and not be silent).
//! With `reference = "upload"` the voice's sample goes with each request instead, as a
//! multipart form (chatterbox-tts-api's `/v1/audio/speech/upload`): the server clones the
//! voice from the clip it is sent, so there is no state on the server to go stale or missing
//! (its voice library falls back to its default voice, silently, for a name it lacks).
//!
//! A server is shared and busy: a 429 or a 5xx is retried, backing off (0.5 s, then 1 s,
//! or the server's `Retry-After` when that is longer), up to three tries;
//! a refused connection is retried the same way (a server still starting). The whole line
//! has one deadline, the engine's `timeout`. On failure the message shows the status and
//! the end of the server's body. The API key is read from its environment variable for
//! each request and written nowhere: not in the key, the job spec, the log or an error.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::manifest::openai_speech::OpenaiSpeech;
use crate::media::{self, Audio};
use crate::process;

/// How many times one piece is asked for before its line fails.
pub const TRIES: u32 = 3;
/// The largest response read (a WAV of about 90 minutes at 24 kHz).
const MOST_BYTES: u64 = 256 << 20;

/// One request: the text of one piece, in render's voice `voice` (the server's voice is
/// the engine's `voice`, else this name).
pub struct Request<'a> {
    pub engine: &'a str,
    pub artifact: &'a str,
    pub text: &'a str,
    pub voice: &'a str,
    /// `reference = "upload"`: the voice's sample, sent with the text.
    pub reference: Option<&'a Path>,
}

/// The JSON body posted for `text`.
pub fn body(server: &OpenaiSpeech, text: &str, voice: &str) -> String {
    serde_json::json!({
        "model": server.model,
        "input": text,
        "voice": server.voice.as_deref().unwrap_or(voice),
        "response_format": server.format,
    })
    .to_string()
}

/// Asks the server for one piece and writes it to `out` as a WAV; what happened goes to
/// `log` (statuses and error bodies, never a header). Fails at `deadline`.
pub fn speak(
    server: &OpenaiSpeech,
    request: &Request,
    out: &Path,
    log: &Path,
    deadline: Instant,
) -> Result<()> {
    // A declared server: started on first use, started again once if it died.
    let base = || match &server.server {
        Some(command) => crate::server::url(request.engine, &server.url, command),
        None => Ok(server.url.clone()),
    };
    let shown = match &server.server {
        Some(_) => format!("its server's {}", server.target(&server.url)),
        None => server.target(&server.url),
    };
    let name = format!("engine `{}` (POST {shown})", request.engine);
    let mut log_file =
        std::fs::File::create(log).map_err(|e| Error::io("cannot create", log, e))?;
    let mut note = |line: String| {
        let _ = writeln!(log_file, "{line}");
    };
    let key = match &server.api_key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(key) if !key.is_empty() => Some(key),
            _ => {
                return Err(Error::Other(format!(
                    "{name} failed while making {}: the environment variable `{var}` (its `api_key_env`) is not set",
                    request.artifact
                )))
            }
        },
    };
    let (content_type, body) = match (server.upload, request.reference) {
        (false, _) => (
            "application/json".to_string(),
            body(server, request.text, request.voice).into_bytes(),
        ),
        (true, Some(sample)) => {
            let bytes = std::fs::read(sample).map_err(|e| Error::io("cannot read", sample, e))?;
            let form = upload_form(server, request.text, sample, &bytes);
            (form.content_type(), form.body)
        }
        (true, None) => {
            return Err(Error::Other(format!(
                "{name} failed while making {}: its voice has no sample to upload",
                request.artifact
            )))
        }
    };
    let failed = |status: String, tail: &str| Error::ToolFailed {
        program: name.clone(),
        artifact: request.artifact.to_string(),
        status,
        log: tail.to_string(),
    };
    let mut last = String::new();
    for attempt in 1..=TRIES {
        process::check_interrupted()?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(failed(stopped(attempt), &last));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(left))
            .build()
            .into();
        let endpoint = server.target(&base()?);
        let mut post = agent.post(&endpoint).header("Content-Type", &content_type);
        if let Some(key) = &key {
            post = post.header("Authorization", &format!("Bearer {key}"));
        }
        let (retry, wait) = match post.send(&body) {
            Err(e) if Instant::now() >= deadline || is_timeout(&e) => {
                note(format!("try {attempt}: no answer before the deadline"));
                return Err(failed(stopped(attempt), &last));
            }
            Err(e) => {
                last = e.to_string();
                note(format!("try {attempt}: {last}"));
                (true, None)
            }
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = (response.headers().get("retry-after"))
                    .and_then(|v| v.to_str().ok()?.trim().parse::<f64>().ok());
                let bytes = response
                    .body_mut()
                    .with_config()
                    .limit(MOST_BYTES)
                    .read_to_vec();
                let bytes = match bytes {
                    Ok(bytes) => bytes,
                    Err(e) if Instant::now() >= deadline || is_timeout(&e) => {
                        return Err(failed(stopped(attempt), &last));
                    }
                    Err(e) => {
                        return Err(failed(format!("its answer could not be read: {e}"), &last))
                    }
                };
                if status == 200 {
                    note(format!("try {attempt}: 200, {} bytes", bytes.len()));
                    return write_speech(server, request, &bytes, out);
                }
                last = process::tail(&String::from_utf8_lossy(&bytes), 10);
                note(format!("try {attempt}: HTTP {status}\n{last}"));
                if status != 429 && status < 500 {
                    return Err(failed(format!("HTTP {status}"), &last));
                }
                if attempt == TRIES {
                    return Err(failed(format!("HTTP {status}, {TRIES} tries"), &last));
                }
                (true, retry_after.map(Duration::from_secs_f64))
            }
        };
        if retry && attempt < TRIES {
            let back_off = Duration::from_millis(500 << (attempt - 1));
            let wait = wait.map_or(back_off, |w| w.max(back_off));
            let left = deadline.saturating_duration_since(Instant::now());
            std::thread::sleep(wait.min(left));
        } else {
            return Err(failed(format!("no answer after {TRIES} tries"), &last));
        }
    }
    Err(failed(format!("no answer after {TRIES} tries"), &last))
}

/// A `multipart/form-data` body (RFC 7578): text fields, then one file.
pub struct Form {
    boundary: String,
    pub body: Vec<u8>,
}

impl Form {
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }
}

/// The form chatterbox-tts-api's `POST /v1/audio/speech/upload` reads: `model`, `input`,
/// `response_format`, and the voice's sample as `voice_file` (its file name kept: the
/// server checks the extension). The server's `voice` is not sent: the file takes its place.
pub fn upload_form(server: &OpenaiSpeech, text: &str, sample: &Path, bytes: &[u8]) -> Form {
    let fields = [
        ("model", server.model.as_str()),
        ("input", text),
        ("response_format", server.format.as_str()),
    ];
    let file_name = (sample.file_name())
        .map_or("sample.wav".into(), |n| n.to_string_lossy().into_owned())
        .replace(['"', '\r', '\n', '\\'], "_");
    // A boundary that occurs in no part: derived from their content, lengthened if needed.
    let mut hasher = blake3::Hasher::new();
    hasher.update(bytes);
    hasher.update(text.as_bytes());
    let hex = hasher.finalize().to_hex();
    let mut boundary = format!("render-{}", &hex[..24]);
    let parts = || std::iter::once(bytes).chain(fields.iter().map(|(_, v)| v.as_bytes()));
    while parts().any(|p| p.windows(boundary.len()).any(|w| w == boundary.as_bytes())) {
        boundary.push('x');
    }
    let mut body = Vec::with_capacity(bytes.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"voice_file\"; filename=\"{file_name}\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Form { boundary, body }
}

fn is_timeout(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Timeout(_))
}

fn stopped(attempt: u32) -> String {
    format!("no answer before its deadline (try {attempt})")
}

/// Writes the server's answer as the piece's WAV: a WAV as it came (checked by the
/// caller), raw PCM wrapped as one.
fn write_speech(server: &OpenaiSpeech, request: &Request, bytes: &[u8], out: &Path) -> Result<()> {
    if server.format == "pcm" {
        if bytes.len() < 2 || !bytes.len().is_multiple_of(2) {
            return Err(media::invalid(
                request.artifact,
                format!(
                    "engine `{}` answered {} bytes, not 16-bit PCM samples",
                    request.engine,
                    bytes.len()
                ),
            ));
        }
        let samples = (bytes.chunks_exact(2))
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let audio = Audio {
            samples,
            sample_rate: server.sample_rate,
        };
        return media::write_wav(out, &audio);
    }
    std::fs::write(out, bytes).map_err(|e| Error::io("cannot write", out, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_model_voice_text_and_format() {
        let server = OpenaiSpeech {
            url: "http://127.0.0.1:8880/".into(),
            model: "kokoro".into(),
            voice: Some("af_bella".into()),
            api_key_env: None,
            format: "wav".into(),
            sample_rate: 24_000,
            upload: false,
            server: None,
        };
        assert_eq!(
            OpenaiSpeech::endpoint(&server.url),
            "http://127.0.0.1:8880/v1/audio/speech"
        );
        assert_eq!(
            body(&server, "Say \"hi\".", "narrator"),
            r#"{"input":"Say \"hi\".","model":"kokoro","response_format":"wav","voice":"af_bella"}"#
        );
    }

    #[test]
    fn the_upload_form_carries_the_sample_whole_under_a_boundary_found_in_no_part() {
        let server = OpenaiSpeech {
            url: "http://127.0.0.1:4123".into(),
            model: "chatterbox-v2".into(),
            voice: None,
            api_key_env: None,
            format: "wav".into(),
            sample_rate: 24_000,
            upload: true,
            server: None,
        };
        assert_eq!(
            server.target(&server.url),
            "http://127.0.0.1:4123/v1/audio/speech/upload"
        );
        let text = "Hi.";
        let sample = Path::new("/voices/a\"da.wav");
        // The boundary the form would pick, put inside the sample: it must pick another.
        let first = upload_form(&server, text, sample, b"RIFF");
        let bytes = [b"RIFF".as_slice(), first.boundary.as_bytes()].concat();
        let form = upload_form(&server, text, sample, &bytes);
        let b = &form.boundary;
        assert!(!bytes.windows(b.len()).any(|w| w == b.as_bytes()));
        let mut want = Vec::new();
        for (name, value) in [
            ("model", "chatterbox-v2"),
            ("input", "Hi."),
            ("response_format", "wav"),
        ] {
            want.extend_from_slice(
                format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        want.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"voice_file\"; filename=\"a_da.wav\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes(),
        );
        want.extend_from_slice(&bytes);
        want.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&form.body),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(
            form.content_type(),
            format!("multipart/form-data; boundary={b}")
        );
    }
}
