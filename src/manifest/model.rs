//! Model manifests: `models/<name>/model.toml` declares a neural engine — what it does
//! (`kind`), how it is stored (`format`), which input/output contract it obeys, its batch
//! size and optionally a blake3 pin of its weights. An avatar picks one with
//! `lipsync = "<name>"`. The weights' hash enters every key that uses the model.

use std::path::Path;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::paths::{self, is_identifier};
use super::{table, SourceFile};
use crate::diagnostic::{ConfigError, Doc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    /// `models/<name>/model.toml`
    pub manifest: SourceFile,
    /// The TorchScript file.
    pub file: SourceFile,
    pub contract: Contract,
    pub batch_size: usize,
    /// 64 hex digits, when the manifest pins the file's blake3.
    pub pin: Option<String>,
    /// `vram = "20G"`: what it needs of a card's memory, for the lanes' packing.
    pub vram: Option<crate::device::Vram>,
}

/// The tensor shapes a model promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// mel `[B,1,80,16]` + faces `[B,6,96,96]` → `[B,3,96,96]`.
    Wav2Lip,
}

impl Contract {
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::Wav2Lip => "wav2lip",
        }
    }
}

/// The keys of [`RawModel`].
const KEYS: &[&str] = &[
    "kind",
    "format",
    "file",
    "contract",
    "precision",
    "batch_size",
    "blake3",
    "source",
    "vram",
];

/// `precision` (what the exporter traced in; libtorch casts on load) and `source`
/// (provenance, for people) are only type-checked.
#[derive(Deserialize)]
#[allow(dead_code)]
struct RawModel {
    kind: Spanned<String>,
    format: Spanned<String>,
    file: Spanned<String>,
    contract: Spanned<String>,
    precision: Option<String>,
    batch_size: Option<Spanned<i64>>,
    blake3: Option<Spanned<String>>,
    source: Option<String>,
    vram: Option<Spanned<String>>,
}

/// Why a model named by an avatar cannot be used. `NotFound` is reported at the avatar's
/// `lipsync` value; `Invalid` points into the model's own model.toml.
pub enum ModelProblem {
    NotFound { message: String, help: String },
    Invalid(ConfigError),
}

pub fn load(root: &Path, name: &str) -> Result<Model, ModelProblem> {
    let rel = format!("models/{name}/model.toml");
    let not_found = |message: String| {
        let help = format!("export a model into models/{name}/ (see tools/export/README.md), or use lipsync = \"builtin\"");
        ModelProblem::NotFound { message, help }
    };
    if !is_identifier(name) {
        return Err(not_found(format!("`{name}` is not a model name")));
    }
    let manifest = paths::resolve(root, &rel)
        .map_err(|_| not_found(format!("lip-sync model `{name}` not found: no `{rel}`")))?;
    let text = super::text::read(&manifest.abs).map_err(|e| {
        ModelProblem::Invalid(ConfigError::in_file(
            &rel,
            format!("cannot read `{rel}`: {e}"),
        ))
    })?;
    let doc = Doc::new(&rel, text);
    // Only the first problem: model.toml is written by the exporter, rarely by hand.
    let raw = table::parse_document(&doc).and_then(|t| {
        let mut errors = Vec::new();
        let t = Spanned::new(0..0, DeValue::Table(t));
        let raw = table::read::<RawModel>(&doc, t, ["", ""], KEYS, "in model.toml", &mut errors);
        raw.filter(|_| errors.is_empty()).ok_or(errors)
    });
    let raw = raw.map_err(|mut errors| ModelProblem::Invalid(errors.remove(0)))?;
    let invalid = |span, message: String, help: &str| {
        Err(ModelProblem::Invalid(doc.err(span, message, "", help)))
    };
    let (kind, format) = (raw.kind.get_ref(), raw.format.get_ref());
    if kind != "lipsync" {
        return invalid(
            raw.kind.span(),
            format!("unknown model kind `{kind}`"),
            "render runs `lipsync` models",
        );
    }
    if format != "torchscript" {
        let help =
            "render loads `torchscript` files (torch.jit.trace or torch.jit.script, then .save)";
        return invalid(
            raw.format.span(),
            format!("unknown model format `{format}`"),
            help,
        );
    }
    let contract = match raw.contract.get_ref().as_str() {
        "wav2lip" => Contract::Wav2Lip,
        other => {
            let help = "the contracts render knows: `wav2lip`";
            return invalid(
                raw.contract.span(),
                format!("unknown contract `{other}`"),
                help,
            );
        }
    };
    let batch_size = match &raw.batch_size {
        None => 128,
        Some(b) if (1..=4096).contains(b.get_ref()) => *b.get_ref() as usize,
        Some(b) => {
            let message = format!(
                "`batch_size` must be between 1 and 4096, not {}",
                b.get_ref()
            );
            let help = "128 suits a 10 GB GPU for wav2lip; render halves it on out-of-memory";
            return invalid(b.span(), message, help);
        }
    };
    let file_rel = format!("models/{name}/{}", raw.file.get_ref());
    let Some(file) = paths::resolve(root, &file_rel)
        .ok()
        .filter(|f| f.rel.starts_with(&format!("models/{name}/")))
    else {
        let help =
            "`file` is relative to the model's folder; export it with tools/export/wav2lip.py";
        return invalid(
            raw.file.span(),
            format!("model file `{file_rel}` not found"),
            help,
        );
    };
    let pin = raw
        .blake3
        .as_ref()
        .map(|pin| pin.get_ref().to_ascii_lowercase());
    if let (Some(v), Some(hex)) = (&raw.blake3, &pin) {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return invalid(
                v.span(),
                "`blake3` must be 64 hex digits".into(),
                "`b3sum FILE` or the exporter prints it",
            );
        }
    }
    let vram = match &raw.vram {
        None => None,
        Some(v) => match crate::device::parse_size(v.get_ref()) {
            Some(bytes) => Some(crate::device::Vram {
                bytes,
                file: rel.clone(),
                at: (v.span().start, v.span().end),
            }),
            None => {
                return invalid(
                    v.span(),
                    format!("`vram` must be a size like \"20G\", not `{}`", v.get_ref()),
                    "what the model needs of a card's memory: \"512M\", \"20G\"",
                )
            }
        },
    };
    Ok(Model {
        name: name.to_string(),
        vram,
        manifest,
        file,
        contract,
        batch_size,
        pin,
    })
}
