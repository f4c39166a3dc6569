//! `kind = "openai-speech"`: a speech engine that is a server speaking OpenAI's
//! `/v1/audio/speech` (Kokoro-FastAPI, chatterbox-tts-api, Orpheus-FastAPI, OpenAI itself)
//! instead of a program started per line. The model stays loaded in the server while
//! every line is still its own job with its own checks.
//!
//! What enters a key is what changes the voice: the model, the voice, the format and the
//! declared version — never the URL's host (the same model behind another host makes the
//! same speech) and never the API key, which is read from the environment variable named
//! by `api_key_env` when a job runs and is written nowhere.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{ConfigError, Doc};

/// An `openai-speech` engine's server and what it asks it for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OpenaiSpeech {
    /// The server's base URL, e.g. `http://127.0.0.1:8880` (`/v1/audio/speech` is added
    /// unless the URL already ends with it).
    pub url: String,
    pub model: String,
    /// The server's voice; by default the name of render's voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The environment variable holding the API key (sent as `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// `"wav"` (default) or `"pcm"` (raw 16-bit little-endian mono at `sample_rate`).
    pub format: String,
    pub sample_rate: u32,
    /// `reference = "upload"`: the voice's sample is sent with each line, as
    /// chatterbox-tts-api's `POST /v1/audio/speech/upload` takes it (a multipart form whose
    /// `voice_file` is the clip), so the server clones the voice from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upload: bool,
    /// `[engines.<name>.server]`: the server render starts itself, on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerCommand>,
}

/// A server render starts (`server.rs`): its command (`{port}` is the port render picks),
/// the path that answers 200 once it is ready, and how long it may take to get there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServerCommand {
    pub program: std::path::PathBuf,
    pub args: Vec<String>,
    pub env: std::collections::BTreeMap<String, String>,
    pub health: String,
    pub start_timeout: u64,
}

/// `[engines.<name>.server]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerCommand {
    program: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    health: Option<Spanned<String>>,
    start_timeout: Option<Spanned<i64>>,
}

impl OpenaiSpeech {
    /// The endpoint every line is posted to, on the server at `url` (the engine's `url`,
    /// with a declared server's port filled in).
    pub fn endpoint(url: &str) -> String {
        let base = url.trim_end_matches('/');
        if base.ends_with("/v1/audio/speech") {
            base.to_string()
        } else {
            format!("{base}/v1/audio/speech")
        }
    }

    /// Where this engine posts: the speech endpoint, or with `reference = "upload"` its
    /// `/upload` form beside it.
    pub fn target(&self, url: &str) -> String {
        let endpoint = OpenaiSpeech::endpoint(url);
        if self.upload {
            format!("{endpoint}/upload")
        } else {
            endpoint
        }
    }
}

/// The keys only an `openai-speech` engine has, as written.
pub(crate) struct RawServer<'a> {
    pub url: &'a Option<Spanned<String>>,
    pub model: &'a Option<Spanned<String>>,
    pub voice: &'a Option<Spanned<String>>,
    pub api_key_env: &'a Option<Spanned<String>>,
    pub format: &'a Option<Spanned<String>>,
    pub sample_rate: &'a Option<Spanned<i64>>,
    pub reference: &'a Option<Spanned<String>>,
    pub server: Option<RawServerCommand>,
    /// Where the engine's relative paths start.
    pub base: &'a std::path::Path,
}

/// The engine's server, or None with every problem in `errors`. `at` is the span of its
/// `kind`, where a missing key is reported.
pub(crate) fn server(
    doc: &Doc,
    name: &str,
    raw: RawServer,
    at: std::ops::Range<usize>,
    errors: &mut Vec<ConfigError>,
) -> Option<OpenaiSpeech> {
    let before = errors.len();
    let mut required = |key: &str, value: &Option<Spanned<String>>, example: &str| {
        let text = value.as_ref().map(|v| v.get_ref().trim().to_string());
        match text {
            Some(t) if !t.is_empty() => Some(t),
            _ => {
                let msg = format!("engine `{name}` (kind = \"openai-speech\") has no `{key}`");
                let help = format!("add `{key} = {example}`");
                let span = value.as_ref().map_or(at.clone(), |v| v.span());
                errors.push(doc.err(span, msg, "missing", help));
                None
            }
        }
    };
    let url = match (&raw.server, raw.url) {
        (Some(_), None) => Some("http://127.0.0.1:{port}".to_string()),
        _ => required("url", raw.url, "\"http://127.0.0.1:8880\""),
    };
    let model = required("model", raw.model, "\"kokoro\"");
    if let (Some(url), Some(span)) = (&url, raw.url.as_ref().map(|u| u.span())) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let msg =
                format!("engine `{name}`: `url` must start with http:// or https://, not `{url}`");
            let help = "the server's base URL, e.g. \"http://127.0.0.1:8880\": render posts each line to <url>/v1/audio/speech";
            errors.push(doc.err(span, msg, "not an HTTP URL", help));
        }
    }
    let format = raw
        .format
        .as_ref()
        .map_or("wav".to_string(), |f| f.get_ref().clone());
    if format != "wav" && format != "pcm" {
        let span = raw.format.as_ref().map_or(at.clone(), |f| f.span());
        let msg = format!("engine `{name}`: `format` must be \"wav\" or \"pcm\", not \"{format}\"");
        let help = "what the server returns: a WAV file, or raw 16-bit mono samples at `sample_rate` (\"pcm\")";
        errors.push(doc.err(span, msg, "unknown format", help));
    }
    let sample_rate = match raw.sample_rate {
        None => 24_000,
        Some(r) if (8_000..=192_000).contains(r.get_ref()) => *r.get_ref() as u32,
        Some(r) => {
            let msg = format!(
                "`sample_rate` must be between 8000 and 192000, not {}",
                r.get_ref()
            );
            let help = "the rate of the server's raw PCM samples (Kokoro and OpenAI: 24000)";
            errors.push(doc.err(r.span(), msg, "out of range", help));
            0
        }
    };
    let upload = match raw.reference {
        None => false,
        Some(r) if r.get_ref() == "upload" => true,
        Some(r) => {
            let msg = format!(
                "engine `{name}`: `reference` must be \"upload\", not \"{}\"",
                r.get_ref()
            );
            let help = "\"upload\": each line is posted with the voice's sample as a multipart form (chatterbox-tts-api's /v1/audio/speech/upload). A voice already in a server's library needs no `reference`: name it in `voice`";
            errors.push(doc.err(r.span(), msg, "unknown reference", help));
            false
        }
    };
    if let (true, Some(f)) = (upload, raw.format.as_ref()) {
        if f.get_ref() != "wav" {
            let msg = format!("engine `{name}`: `reference = \"upload\"` answers a WAV");
            let help = "remove `format` (chatterbox-tts-api's upload endpoint always answers WAV)";
            errors.push(doc.err(f.span(), msg, "WAV only", help));
        }
    }
    let api_key_env = raw
        .api_key_env
        .as_ref()
        .map(|k| k.get_ref().trim().to_string());
    if let (Some(var), Some(k)) = (&api_key_env, raw.api_key_env) {
        let plain = !var.is_empty()
            && (var.chars()).all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !plain {
            let msg = format!(
                "engine `{name}`: `api_key_env` must name an environment variable, not `{var}`"
            );
            let help = "the name of the variable holding the key, e.g. \"OPENAI_API_KEY\" — never the key itself";
            errors.push(doc.err(k.span(), msg, "not a variable name", help));
        }
    }
    let server = raw.server.map(|s| {
        let start_timeout = match s.start_timeout {
            None => 120,
            Some(t) if (1..=3600).contains(t.get_ref()) => *t.get_ref() as u64,
            Some(t) => {
                let msg = format!(
                    "`start_timeout` must be between 1 and 3600 seconds, not {}",
                    t.get_ref()
                );
                let help = "how long the server may take to answer its health URL with 200";
                errors.push(doc.err(t.span(), msg, "out of range", help));
                0
            }
        };
        let program = s.program.get_ref().trim();
        let program = if program.contains('/') {
            raw.base.join(program.strip_prefix("./").unwrap_or(program))
        } else {
            std::path::PathBuf::from(program)
        };
        let health = s.health.map_or("/health".to_string(), |h| h.into_inner());
        let health = if health.starts_with('/') {
            health
        } else {
            format!("/{health}")
        };
        // `{engine_dir}`: the declaring file's folder, as in a command engine's args (the
        // server runs in render's working folder, which may be anywhere).
        let engine_dir = raw.base.to_string_lossy();
        let args = (s.args.iter())
            .map(|a| a.replace("{engine_dir}", &engine_dir))
            .collect();
        ServerCommand {
            program,
            args,
            env: s.env,
            health,
            start_timeout,
        }
    });
    if let (Some(url), None) = (&url, &server) {
        if url.contains("{port}") {
            let span = raw.url.as_ref().map_or(at.clone(), |u| u.span());
            let msg = format!("engine `{name}`: `{{port}}` in its `url` needs a declared server");
            let help = "declare [engines.<name>.server] (the command render starts, on a port it picks), or write the server's port";
            errors.push(doc.err(span, msg, "no server", help));
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(OpenaiSpeech {
        server,
        url: url?,
        model: model?,
        voice: raw.voice.as_ref().map(|v| v.get_ref().clone()),
        api_key_env,
        format,
        sample_rate,
        upload,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn a_servers_args_may_name_the_declaring_folder_as_engine_dir() {
        let folder = Folder::new(
            "[defaults]\nvoice = \"joe\"\n\n[voices.joe]\nengine = \"piper\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n\
             [engines.piper]\nstage = \"speech\"\nkind = \"openai-speech\"\nmodel = \"piper\"\n\n\
             [engines.piper.server]\nprogram = \"python3\"\n\
             args = [\"{engine_dir}/bridge.py\", \"--port\", \"{port}\"]\n",
        );
        let loaded = folder.load();
        let engine = &loaded.manifest.engines["piper"];
        let server = engine.openai.as_ref().unwrap().server.as_ref().unwrap();
        let root = folder.root().canonicalize().unwrap();
        assert_eq!(
            server.args,
            [
                format!("{}/bridge.py", root.display()),
                "--port".to_string(),
                "{port}".to_string()
            ]
        );
    }
}
