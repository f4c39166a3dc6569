//! Still: a picture made from a prompt (`[stills.<name>]`) by a command engine of stage
//! "still" — SDXL or Flux through diffusers, with LoRAs for a consistent character. Its key
//! holds everything the bytes depend on: the prompt texts, size, steps, guidance and seed
//! (as the command engine's values), the reference picture (a file's content hash, or the
//! still it is made from, an input), each LoRA file's content hash and scale, and the
//! engine's own key (args, version, weights). A seed is always set, so a rebuild is
//! reproducible and an unchanged still is never made again.
//!
//! A still is used as a picture: an avatar's `image = { still = "host" }` (its face track
//! and clips then read the object's `still.png`, an input of their keys), a shot's start
//! picture. The output must be a PNG of exactly the declared size.

use std::path::Path;

use crate::error::Result;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::shots::Prompted;
use crate::manifest::SourceFile;
use crate::media;
use crate::sources::SourceHashes;

pub const OUTPUT: &str = "still.png";
/// The input name of a still's or shot's reference picture when it is a still.
pub const IMAGE: &str = "image";
const VERSION: &str = "still-1";

/// The picture a still or shot starts from, as its key names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// A file of the content folder: its content hash.
    File(SourceFile),
    /// A still: its key, an input.
    Still(Key),
}

/// A still's key; the command engine adds its own (`CommandJob::key`).
pub fn key(
    engine: &str,
    made: &Prompted,
    image: Option<&Image>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    prompted(
        KeySpec::new(ArtifactKind::Still, VERSION, engine.to_string()),
        made,
        image,
        hashes,
    )
}

/// What a still and a shot share in their keys: the picture and the LoRAs (the prompt and
/// the numbers are the command engine's values).
pub fn prompted(
    mut spec: KeySpec,
    made: &Prompted,
    image: Option<&Image>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    match image {
        Some(Image::File(file)) => spec = spec.source(IMAGE, &file.rel, hashes.hash(file)?),
        Some(Image::Still(key)) => spec = spec.input(IMAGE, *key),
        None => {}
    }
    for (i, lora) in made.loras.iter().enumerate() {
        let name = format!("lora{}", i + 1);
        spec = spec
            .source(name.clone(), &lora.file.rel, hashes.hash(&lora.file)?)
            .param(format!("{name}.scale"), lora.scale);
    }
    Ok(spec)
}

/// A still must be a PNG of `width`×`height` (programs that fail may exit 0, or silently
/// make another size).
pub fn check(artifact: &str, path: &Path, width: u32, height: u32) -> Result<()> {
    let bytes = std::fs::read(path)
        .map_err(|e| media::invalid(artifact, format!("the still was not written: {e}")))?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(media::invalid(artifact, "the still is not a PNG image"));
    }
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| media::invalid(artifact, format!("the still cannot be read: {e}")))?;
    if (image.width(), image.height()) != (width, height) {
        return Err(media::invalid(
            artifact,
            format!(
                "the still is {}×{} pixels, not the {width}×{height} declared",
                image.width(),
                image.height()
            ),
        ));
    }
    Ok(())
}
