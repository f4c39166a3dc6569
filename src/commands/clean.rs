//! `render clean`: removes what render made (cache/ and out/), under the build lock so a
//! running build is never pulled out from under.

use std::path::Path;

use crate::cache::Cache;
use crate::commands;
use crate::error::{Error, Result};
use crate::lock::BuildLock;

pub fn run(dir: &Path) -> i32 {
    let result = (|| -> Result<i32> {
        let root = commands::content_root(dir)?;
        if !root.join("Renderfile.toml").is_file() {
            // Refuse to delete folders of something that is not a content folder.
            return Err(Error::Other(format!(
                "{} has no Renderfile.toml; refusing to clean it",
                root.display()
            )));
        }
        let cache = Cache::new(&root);
        let lock = BuildLock::acquire(&cache.dir)?;
        let out = root.join("out");
        if out.exists() {
            std::fs::remove_dir_all(&out).map_err(|e| Error::io("cannot remove", &out, e))?;
        }
        for entry in
            std::fs::read_dir(&cache.dir).map_err(|e| Error::io("cannot read", &cache.dir, e))?
        {
            let path = entry
                .map_err(|e| Error::io("cannot read", &cache.dir, e))?
                .path();
            if path.file_name() == Some("lock".as_ref()) {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io("cannot remove", &path, e))?;
        }
        // The lock file stays: a build waiting on it must lock the same file as any later one.
        drop(lock);
        eprintln!("render: removed cache/ and out/");
        Ok(0)
    })();
    commands::exit_code(result)
}
