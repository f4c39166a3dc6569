//! Confinement of user paths to the content folder.
//!
//! Every file a declaration names (avatar, background image, recorded audio, script) is
//! written relative to the content folder and must stay inside it: no absolute paths, no `..`
//! that climbs out, and no symbolic link (at any component) whose target lies outside the
//! canonical content folder. [`resolve`] checks all of that and that the file exists;
//! [`file`] turns its answer into the diagnostic at the value that named the path.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use super::SourceFile;
use crate::diagnostic::{did_you_mean, ConfigError, Doc};
use PathProblem::*;

/// Why a path written in a declaration cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathProblem {
    /// `""`
    Empty,
    /// `/etc/passwd`, `C:\x`
    Absolute,
    /// `../x`, `a/../../x`: `..` climbs out of the content folder.
    LeavesFolder,
    /// A component (`link`, relative to the content folder) is a symbolic link to `target`,
    /// outside the content folder.
    SymlinkOutside { link: String, target: PathBuf },
    /// No such file.
    NotFound,
    /// A component (`link`) is a symbolic link to `target`, which does not exist.
    BrokenLink { link: String, target: PathBuf },
    /// It exists but is a directory.
    NotAFile,
    /// It exists but is neither a file nor a directory: a named pipe (FIFO), a socket or a
    /// device, which this names. Never opened: reading a pipe would wait for a writer.
    NotRegular(&'static str),
    /// Some other I/O error (permissions, ...).
    Io(String),
}

impl PathProblem {
    /// One-line message about the path `rel` as the user wrote it, e.g.
    /// "`../../etc/passwd` is outside the content folder".
    pub fn message(&self, rel: &str) -> String {
        match self {
            Empty => "empty path".to_string(),
            Absolute | LeavesFolder | SymlinkOutside { .. } => {
                format!("`{rel}` is outside the content folder")
            }
            NotFound | BrokenLink { .. } => format!("file `{rel}` not found"),
            NotAFile => format!("`{rel}` is not a file"),
            NotRegular(kind) => format!("`{rel}` is not a regular file: it is {kind}"),
            Io(e) => format!("cannot read `{rel}`: {e}"),
        }
    }

    /// The label under the value that named the path.
    fn label(&self) -> &'static str {
        match self {
            NotFound | BrokenLink { .. } => "not found",
            Absolute | LeavesFolder | SymlinkOutside { .. } => "outside the content folder",
            NotRegular(_) => "not a regular file",
            _ => "",
        }
    }

    /// A hint on how to fix it.
    pub fn help(&self) -> String {
        const RELATIVE: &str =
            "paths are relative to the content folder (the folder holding Renderfile.toml)";
        match self {
            Empty => format!("write a path, e.g. \"avatars/host.png\"; {RELATIVE}"),
            Absolute => format!("absolute paths are not allowed; {RELATIVE}"),
            LeavesFolder => format!("`..` may not climb out of the content folder; {RELATIVE}, so copy the file into it"),
            SymlinkOutside { link, target } => format!(
                "`{link}` is a symbolic link to `{}`, outside the content folder; copy the file into the content folder instead of linking to it",
                target.display()
            ),
            NotFound => RELATIVE.to_string(),
            BrokenLink { link, target } => format!("`{link}` is a symbolic link to `{}`, which does not exist", target.display()),
            NotAFile => format!("this names a directory; name a file in it; {RELATIVE}"),
            NotRegular(_) => "render reads only regular files (a pipe would keep it waiting for a writer): save the contents as a file and name that".to_string(),
            Io(_) => "check the file's permissions".to_string(),
        }
    }
}

/// Resolves `rel` (as written in a declaration, relative to the content folder `root`) to an
/// existing regular file inside the content folder.
///
/// `rel` of the result is normalised (`/`-separated, no `.` or `..`); `abs` is the canonical
/// content folder joined with it.
pub fn resolve(root: &Path, rel: &str) -> Result<SourceFile, PathProblem> {
    if rel.trim().is_empty() {
        return Err(Empty);
    }
    let path = Path::new(rel);
    if path.is_absolute() || path.has_root() {
        return Err(Absolute);
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => return Err(Absolute),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(LeavesFolder);
                }
            }
            // `rel` is a str, so every component is valid UTF-8.
            Component::Normal(part) => parts.push(part.to_str().unwrap_or_default()),
        }
    }
    if parts.is_empty() {
        // "." or "a/..": the content folder itself.
        return Err(NotAFile);
    }

    let root = match LOADING.with(|l| l.borrow().as_ref().filter(|l| l.root == root).is_some()) {
        true => root.to_path_buf(),
        false => root.canonicalize().map_err(io_problem)?,
    };
    let mut abs = root.clone();
    // The file's own type, when it is not a link (its `symlink_metadata` says it).
    let mut kind = None;
    for (i, part) in parts.iter().enumerate() {
        abs.push(part);
        let last = i + 1 == parts.len();
        if !last
            && LOADING.with(|l| {
                l.borrow()
                    .as_ref()
                    .is_some_and(|l| l.folders.contains(&abs))
            })
        {
            continue;
        }
        // A folder's listing, or the file: what the no-op stamp must see unchanged.
        crate::noop_stamp::consulted(&abs);
        let meta = fs::symlink_metadata(&abs).map_err(io_problem)?;
        if !meta.file_type().is_symlink() {
            if last {
                kind = Some(meta.file_type());
            } else if meta.is_dir() {
                LOADING.with(|l| {
                    if let Some(l) = l.borrow_mut().as_mut() {
                        l.folders.insert(abs.clone());
                    }
                });
            }
            continue;
        }
        let link = parts[..=i].join("/");
        match abs.canonicalize() {
            Ok(target) if target.starts_with(&root) => {}
            Ok(target) => return Err(SymlinkOutside { link, target }),
            Err(_) => {
                // Dangling: say where it points, and whether that is outside anyway.
                let raw = fs::read_link(&abs).unwrap_or_default();
                let target = normalise(&abs.parent().unwrap_or(&root).join(raw));
                let inside = target.starts_with(&root);
                return Err(if inside {
                    BrokenLink { link, target }
                } else {
                    SymlinkOutside { link, target }
                });
            }
        }
    }
    let kind = match kind {
        Some(kind) => kind,
        None => fs::metadata(&abs).map_err(io_problem)?.file_type(),
    };
    if kind.is_dir() {
        return Err(NotAFile);
    }
    if !kind.is_file() {
        return Err(NotRegular(special_kind(kind)));
    }
    Ok(SourceFile {
        rel: parts.join("/"),
        abs,
    })
}

thread_local! {
    /// The content folder being loaded on this thread, if any (`loading`).
    static LOADING: std::cell::RefCell<Option<Loading>> = const { std::cell::RefCell::new(None) };
}

struct Loading {
    /// The canonical content folder.
    root: PathBuf,
    /// Folders under it already found to be folders, not links.
    folders: std::collections::HashSet<PathBuf>,
}

/// While the returned guard lives, [`resolve`] on this thread takes `root` (which must be
/// canonical) as it is, and stats each folder under it once: loading 1,000 scripts from
/// `projects/<name>/` canonicalized the content folder and stat'ed `projects` and
/// `projects/<name>` once per script. The file itself is still checked every time, and
/// so is every folder first seen; one load is one moment, so a folder it found to be no
/// link is not asked again within it.
pub(crate) fn loading(root: &Path) -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            LOADING.with(|l| l.borrow_mut().take());
        }
    }
    LOADING.with(|l| {
        *l.borrow_mut() = Some(Loading {
            root: root.to_path_buf(),
            folders: Default::default(),
        })
    });
    Guard
}

/// What a file that is neither a regular file nor a directory is, as a message says it.
fn special_kind(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// A file inside the content folder, named by the string value `v`. `base` (e.g.
/// `projects/demo`) is where users may mistakenly think paths start; a file found there
/// becomes a did-you-mean.
pub(crate) fn file(
    doc: &Doc,
    root: &Path,
    v: &Spanned<String>,
    base: Option<&str>,
) -> Result<SourceFile, ConfigError> {
    let rel = v.get_ref();
    resolve(root, rel).map_err(|problem| {
        let mut help = problem.help();
        if problem == NotFound {
            if let Some(found) = base.and_then(|b| resolve(root, &format!("{b}/{rel}")).ok()) {
                help = format!(
                    "did you mean `{}`? paths are relative to the content folder (the folder holding Renderfile.toml), not to project.toml",
                    found.rel
                );
            } else if let Some(near) = near_file(root, rel) {
                help = format!("did you mean `{near}`? {help}");
            }
        }
        doc.err(v.span(), problem.message(rel), problem.label(), help)
    })
}

/// A sibling of the missing file `rel` with a similar name (a typo), if any.
fn near_file(root: &Path, rel: &str) -> Option<String> {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let root = root.canonicalize().ok()?;
    let folder = root
        .join(dir)
        .canonicalize()
        .ok()
        .filter(|d| d.starts_with(&root) && d.is_dir());
    let names = fs::read_dir(folder?)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok());
    let names: Vec<String> = names.collect();
    let near = did_you_mean(name, names.iter().map(String::as_str))?;
    Some(if dir.is_empty() {
        near.to_string()
    } else {
        format!("{dir}/{near}")
    })
}

/// The file named at `v` must be a PNG or JPEG (the only formats the frame renderer reads).
pub(crate) fn image_ext(
    doc: &Doc,
    v: &Spanned<String>,
    file: &SourceFile,
) -> Result<(), ConfigError> {
    if has_ext(&file.rel, &["png", "jpg", "jpeg"]) {
        return Ok(());
    }
    let (msg, help) = (
        format!("`{}` is not a PNG or JPEG image", v.get_ref()),
        "use a .png or .jpg file",
    );
    Err(doc.err(v.span(), msg, "not .png/.jpg", help))
}

pub(crate) fn has_ext(rel: &str, exts: &[&str]) -> bool {
    Path::new(rel)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// `[A-Za-z0-9_-]+`: names that become file or folder names (projects, scenes, models).
pub(crate) use crate::diagnostic::is_identifier;

fn io_problem(e: io::Error) -> PathProblem {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => NotFound,
        _ => Io(e.to_string()),
    }
}

/// Lexical normalisation of an absolute path (`.` and `..` removed).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("content/avatars")).unwrap();
        fs::write(dir.path().join("content/avatars/a.png"), b"png").unwrap();
        fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        dir
    }

    #[test]
    fn manifest_paths_resolve_normalises() {
        let dir = folder();
        let root = dir.path().join("content");
        let f = resolve(&root, "./avatars/../avatars//a.png").unwrap();
        assert_eq!(f.rel, "avatars/a.png");
        assert_eq!(f.abs, root.canonicalize().unwrap().join("avatars/a.png"));
    }

    #[test]
    fn manifest_paths_reject_escapes() {
        let dir = folder();
        let root = dir.path().join("content");
        assert_eq!(resolve(&root, ""), Err(PathProblem::Empty));
        assert_eq!(resolve(&root, "/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(
            resolve(&root, "../secret.txt"),
            Err(PathProblem::LeavesFolder)
        );
        assert_eq!(
            resolve(&root, "avatars/../../secret.txt"),
            Err(PathProblem::LeavesFolder)
        );
        assert_eq!(resolve(&root, "avatars/b.png"), Err(PathProblem::NotFound));
        assert_eq!(
            resolve(&root, "avatars/a.png/x"),
            Err(PathProblem::NotFound)
        );
        assert_eq!(resolve(&root, "avatars"), Err(PathProblem::NotAFile));
        assert_eq!(resolve(&root, "."), Err(PathProblem::NotAFile));
        let fifo = root.join("pipe.txt");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let problem = resolve(&root, "pipe.txt").unwrap_err();
        assert_eq!(problem, PathProblem::NotRegular("a named pipe (FIFO)"));
        assert_eq!(
            problem.message("pipe.txt"),
            "`pipe.txt` is not a regular file: it is a named pipe (FIFO)"
        );
        assert_eq!(
            PathProblem::LeavesFolder.message("../../etc/passwd"),
            "`../../etc/passwd` is outside the content folder"
        );
    }

    #[cfg(unix)]
    #[test]
    fn manifest_paths_reject_symlinks_out() {
        use std::os::unix::fs::symlink;
        let dir = folder();
        let root = dir.path().join("content");
        symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink(dir.path(), root.join("outside")).unwrap();
        symlink("avatars", root.join("inside")).unwrap();
        symlink("nowhere.png", root.join("broken.png")).unwrap();
        symlink("/nonexistent/x.png", root.join("broken-out.png")).unwrap();

        assert!(matches!(
            resolve(&root, "leak.txt"),
            Err(PathProblem::SymlinkOutside { link, .. }) if link == "leak.txt"
        ));
        assert!(matches!(
            resolve(&root, "outside/secret.txt"),
            Err(PathProblem::SymlinkOutside { link, .. }) if link == "outside"
        ));
        assert!(matches!(
            resolve(&root, "broken.png"),
            Err(PathProblem::BrokenLink { .. })
        ));
        assert!(matches!(
            resolve(&root, "broken-out.png"),
            Err(PathProblem::SymlinkOutside { .. })
        ));
        // A link that stays inside is fine.
        let f = resolve(&root, "inside/a.png").unwrap();
        assert_eq!(f.rel, "inside/a.png");
        // The content folder itself may be reached through a link.
        symlink(&root, dir.path().join("alias")).unwrap();
        assert!(resolve(&dir.path().join("alias"), "avatars/a.png").is_ok());
    }
}
