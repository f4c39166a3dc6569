//! The content-addressed cache: `cache/objects/<2 hex>/<key>/` holds an artifact's files
//! plus `record.json`. Everything is written under `cache/tmp/`, checked, and renamed into
//! place whole, so a crash at any instant leaves the old state or the new one, never half
//! of either. `out/` is published from the cache the same way (hard link, then rename).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{hash_file, unique_suffix};
use crate::key::{Key, KeySpec};

/// What an object is and how it was made; written last, so its presence means "complete".
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub key: Key,
    pub spec: KeySpec,
    pub outputs: Vec<OutputFile>,
    pub tool: String,
    pub device: String,
    pub precision: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub bytes: u64,
    pub blake3: Key,
}

pub const RECORD: &str = "record.json";

#[derive(Clone, Debug)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    pub fn new(content_root: &Path) -> Cache {
        Cache::at(&content_root.join("cache"))
    }

    /// The cache in folder `dir` (a job spec names it).
    pub fn at(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn object_dir(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.objects_dir().join(&hex[..2]).join(hex)
    }

    /// Creates the cache folders; call with the build lock held.
    pub fn prepare(&self) -> Result<()> {
        for dir in [self.objects_dir(), self.tmp_dir(), self.state_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        }
        Ok(())
    }

    /// Removes what interrupted builds left under `cache/tmp/`. Only safe under the lock.
    pub fn sweep_tmp(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        let entries = match std::fs::read_dir(&tmp) {
            Ok(entries) => entries,
            Err(_) => return Ok(()),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let result = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            result.map_err(|e| Error::io("cannot remove", &path, e))?;
        }
        Ok(())
    }

    /// Whether the object exists (its record is the last thing written).
    pub fn has(&self, key: &Key) -> bool {
        self.object_dir(key).join(RECORD).is_file()
    }

    pub fn record(&self, key: &Key) -> Option<Record> {
        let bytes = std::fs::read(self.object_dir(key).join(RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A fresh private folder under `cache/tmp/` for one job.
    pub fn job_dir(&self, key: &Key) -> Result<PathBuf> {
        let dir = self
            .tmp_dir()
            .join(format!("{}-{}", &key.hex()[..16], unique_suffix()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(dir)
    }

    /// Seals a finished job folder as the object for `record.key`: hashes the outputs into
    /// the record, writes the record, and renames the folder into place.
    pub fn commit(&self, job_dir: &Path, mut record: Record, outputs: &[String]) -> Result<Record> {
        record.outputs = outputs
            .iter()
            .map(|name| {
                let path = job_dir.join(name);
                let bytes = std::fs::metadata(&path)
                    .map_err(|e| Error::io("cannot read", &path, e))?
                    .len();
                Ok(OutputFile {
                    file: name.clone(),
                    bytes,
                    blake3: hash_file(&path)?,
                })
            })
            .collect::<Result<_>>()?;
        // Anything else the job left (logs, intermediate files) stays out of the object.
        for entry in std::fs::read_dir(job_dir).map_err(|e| Error::io("cannot read", job_dir, e))? {
            let entry = entry.map_err(|e| Error::io("cannot read", job_dir, e))?;
            let name = entry.file_name();
            // An output may sit in a folder (`voice/ada.pth`): keep the folder.
            let top = |o: &String| o.split('/').next().unwrap_or_default().to_string();
            if !outputs.iter().any(|o| name.to_string_lossy() == top(o)) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
        let json = serde_json::to_vec_pretty(&record).expect("record serialises");
        let record_path = job_dir.join(RECORD);
        std::fs::write(&record_path, json)
            .map_err(|e| Error::io("cannot write", &record_path, e))?;

        let target = self.object_dir(&record.key);
        let parent = target.parent().unwrap();
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        match std::fs::rename(job_dir, &target) {
            Ok(()) => Ok(record),
            // Another job with the same key won the race; its object is just as good.
            Err(_) if self.has(&record.key) => {
                let _ = std::fs::remove_dir_all(job_dir);
                Ok(record)
            }
            Err(e) => Err(Error::io("cannot move into the cache", &target, e)),
        }
    }

    /// Checks an object's files against its record.
    pub fn verify(&self, key: &Key) -> std::result::Result<(), String> {
        let record = self.record(key).ok_or("no readable record")?;
        if record.key != *key || record.spec.key() != *key {
            return Err("record does not describe this key".into());
        }
        let dir = self.object_dir(key);
        for output in &record.outputs {
            let path = dir.join(&output.file);
            let hash = hash_file(&path).map_err(|e| e.to_string())?;
            if hash != output.blake3 {
                return Err(format!("{} does not match its record", output.file));
            }
        }
        Ok(())
    }

    /// Publishes `source` (an object's file) at `target` atomically. Returns false when
    /// `target` already is that file, so a no-op build leaves `out/` untouched.
    pub fn publish(&self, source: &Path, target: &Path) -> Result<bool> {
        if same_file(source, target) {
            return Ok(false);
        }
        let parent = target.parent().unwrap();
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        let staged = self.tmp_dir().join(format!("publish-{}", unique_suffix()));
        if std::fs::hard_link(source, &staged).is_err() {
            std::fs::copy(source, &staged).map_err(|e| Error::io("cannot copy", source, e))?;
        }
        std::fs::rename(&staged, target).map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            Error::io("cannot publish", target, e)
        })?;
        Ok(true)
    }
}

impl Cache {
    /// Removes the videos in `out/<project>/<scene>.mp4` that no scene publishes any more
    /// (a renamed or deleted scene), and then-empty project folders. Returns what it removed,
    /// relative to the content folder. Files of other shapes are left alone.
    pub fn unpublish_undeclared(&self, out: &Path, declared: &[&PathBuf]) -> Result<Vec<String>> {
        // A set, not a scan of `declared` per file: 6,000 scenes are 36 million compares.
        let declared: std::collections::HashSet<&Path> =
            declared.iter().map(|p| p.as_path()).collect();
        let mut removed = Vec::new();
        let Ok(projects) = std::fs::read_dir(out) else {
            return Ok(removed);
        };
        for project in projects.flatten().filter(|e| e.path().is_dir()) {
            let dir = project.path();
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("cannot read", &dir, e))? {
                let path = entry.map_err(|e| Error::io("cannot read", &dir, e))?.path();
                let is_video = path.extension().is_some_and(|e| e == "mp4");
                if is_video && !declared.contains(path.as_path()) && path.is_file() {
                    std::fs::remove_file(&path)
                        .map_err(|e| Error::io("cannot remove", &path, e))?;
                    let name = path.file_name().unwrap().to_string_lossy();
                    removed.push(format!(
                        "out/{}/{name}",
                        project.file_name().to_string_lossy()
                    ));
                }
            }
            // Fails, harmlessly, when the folder still holds something.
            let _ = std::fs::remove_dir(&dir);
        }
        removed.sort();
        Ok(removed)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}
