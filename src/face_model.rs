//! The face landmark model that comes with render's installation (`models/facemesh/`,
//! exported by `tools/setup` from MediaPipe's Face Mesh, Apache-2.0): every face track runs
//! it, so it belongs to render, not to a content folder. It is looked for, in order, in
//! `$RENDER_MODELS/facemesh`, `<exe dir>/models/facemesh`, `<exe dir>/../../models/facemesh`
//! (cargo's `target/release/` in a clone: the repository root) and
//! `<exe dir>/../share/render/models/facemesh` (an installed prefix).
//!
//! Without it render still works: face tracks hold boxes only (keyed apart from tracks with
//! landmarks), and each build says so once with the fix. The built-in lip-sync reads only
//! boxes today, so a machine without Python loses nothing yet.
//!
//! Its `model.toml` pins the weights' blake3, and the pin enters every face-track key, so
//! a re-export re-makes the tracks; the file itself is hashed only when a track is made.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The model's folder name, which is also its lane group.
pub const NAME: &str = "facemesh";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaceModel {
    /// `…/models/facemesh/model.toml`
    pub manifest: PathBuf,
    /// The TorchScript file.
    pub file: PathBuf,
    /// The blake3 of `file`, as model.toml pins it (64 lowercase hex digits).
    pub pin: String,
    pub batch_size: usize,
}

/// What the search found: the model, or why there is none (a notice for the user).
pub type Found = std::result::Result<FaceModel, String>;

/// The installed model, looked for once per process.
pub fn installed() -> &'static Found {
    static FOUND: OnceLock<Found> = OnceLock::new();
    FOUND.get_or_init(|| {
        let env = std::env::var_os("RENDER_MODELS").map(PathBuf::from);
        let exe = std::env::current_exe().ok();
        find(&candidates(env.as_deref(), exe.as_deref()))
    })
}

/// The folders searched, in order.
pub fn candidates(env: Option<&Path>, exe: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(env) = env {
        dirs.push(env.join(NAME));
    }
    if let Some(exe_dir) = exe.and_then(Path::parent) {
        dirs.push(exe_dir.join("models").join(NAME));
        dirs.push(exe_dir.join("../../models").join(NAME));
        dirs.push(exe_dir.join("../share/render/models").join(NAME));
    }
    dirs
}

/// The first candidate holding a model.toml: read and checked. A broken one is not passed
/// over for a later candidate, since it is the one the user installed.
pub fn find(candidates: &[PathBuf]) -> Found {
    let Some(dir) = candidates.iter().find(|d| {
        crate::noop_stamp::consulted(&d.join("model.toml"));
        d.join("model.toml").is_file()
    }) else {
        let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        return Err(format!(
            "no face landmark model found (looked in {}); face tracks hold boxes only. Run ./tools/setup in render's repository to export it, or set RENDER_MODELS to the folder that holds facemesh/",
            looked.join(", ")
        ));
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    read(&dir).map_err(|problem| {
        format!(
            "the face landmark model in {} cannot be used: {problem}; face tracks hold boxes only. Run ./tools/setup to export it again",
            dir.display()
        )
    })
}

#[derive(Deserialize)]
struct RawModel {
    kind: String,
    format: String,
    file: String,
    contract: String,
    batch_size: Option<usize>,
    blake3: Option<String>,
}

fn read(dir: &Path) -> std::result::Result<FaceModel, String> {
    let manifest = dir.join("model.toml");
    let text = crate::manifest::text::read(&manifest)
        .map_err(|e| format!("cannot read model.toml: {e}"))?;
    let raw: RawModel =
        toml::from_str(&text).map_err(|e| format!("model.toml: {}", e.message()))?;
    let expect = |what: &str, got: &str, want: &str| {
        if got == want {
            Ok(())
        } else {
            Err(format!("its {what} is `{got}`, not `{want}`"))
        }
    };
    expect("kind", &raw.kind, "landmarks")?;
    expect("format", &raw.format, "torchscript")?;
    expect("contract", &raw.contract, NAME)?;
    let pin = (raw.blake3.map(|p| p.to_ascii_lowercase()))
        .filter(|p| p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("model.toml has no `blake3` pin of 64 hex digits (the exporter writes it when the `blake3` package is installed)")?;
    let file = dir.join(&raw.file);
    crate::noop_stamp::consulted(&file);
    if !file.is_file() || raw.file.contains('/') {
        return Err(format!("its file `{}` is missing", raw.file));
    }
    Ok(FaceModel {
        manifest,
        file,
        pin,
        batch_size: raw.batch_size.unwrap_or(64).clamp(1, 4096),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"kind = "landmarks"
format = "torchscript"
file = "facemesh.pt"
contract = "facemesh"
batch_size = 32
blake3 = "5805C53E9EE005ADFCC8F80C0972A60B30FA6EFD8B54210D27CDC78BEBBEA9A8"
"#;

    #[test]
    fn searches_the_environment_then_beside_the_executable() {
        let dirs = candidates(Some(Path::new("/m")), Some(Path::new("/opt/r/bin/render")));
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        assert_eq!(
            dirs,
            [
                "/m/facemesh",
                "/opt/r/bin/models/facemesh",
                "/opt/r/bin/../../models/facemesh",
                "/opt/r/bin/../share/render/models/facemesh",
            ]
        );
    }

    #[test]
    fn finds_the_first_folder_with_a_model() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("model.toml"), TOML).unwrap();
        std::fs::write(b.join("facemesh.pt"), b"weights").unwrap();
        let found = find(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(found.file, b.canonicalize().unwrap().join("facemesh.pt"));
        assert_eq!(found.batch_size, 32);
        assert!(found.pin.starts_with("5805c53e"));

        let missing = find(std::slice::from_ref(&a)).unwrap_err();
        assert!(
            missing.contains("no face landmark model found"),
            "{missing}"
        );
        assert!(missing.contains("./tools/setup"), "{missing}");
    }

    #[test]
    fn a_broken_model_says_what_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("model.toml"), TOML.replace("landmarks", "lipsync")).unwrap();
        let error = find(std::slice::from_ref(&dir)).unwrap_err();
        assert!(
            error.contains("its kind is `lipsync`, not `landmarks`"),
            "{error}"
        );
        std::fs::write(dir.join("model.toml"), TOML).unwrap();
        let error = find(std::slice::from_ref(&dir)).unwrap_err();
        assert!(error.contains("`facemesh.pt` is missing"), "{error}");
        std::fs::write(dir.join("facemesh.pt"), b"w").unwrap();
        std::fs::write(dir.join("model.toml"), TOML.replace("blake3", "# blake3")).unwrap();
        let error = find(std::slice::from_ref(&dir)).unwrap_err();
        assert!(error.contains("no `blake3` pin"), "{error}");
    }
}
