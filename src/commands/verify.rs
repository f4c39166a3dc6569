//! `render verify`: re-hashes every object in the cache against its record and moves the
//! damaged ones to `cache/quarantine/` (a later build makes them again). For a nightly
//! check of a cache on disks that can rot; a build's own cheap check only compares sizes.

use std::path::Path;

use crate::cache::{Cache, Check};
use crate::commands;
use crate::error::Result;
use crate::lock::BuildLock;

pub fn run(dir: &Path) -> i32 {
    let result = (|| -> Result<i32> {
        let root = commands::content_root(dir)?;
        let cache = Cache::new(&root);
        if !cache.objects_dir().is_dir() {
            eprintln!("render: verified 0 objects (the cache is empty)");
            return Ok(0);
        }
        // Quarantining moves objects: never under a running build.
        let _lock = BuildLock::acquire(&cache.dir)?;
        // An object verify moves aside, the last no-op's stamp may list.
        crate::noop_stamp::forget(&cache.state_dir())?;
        let keys = cache.keys();
        let mut quarantined = 0;
        for key in &keys {
            crate::process::check_interrupted()?;
            let Check::Damaged(reason) = cache.verify(key) else {
                continue;
            };
            // The record names the artifact when it is readable.
            let name = cache
                .record(key)
                .map_or_else(|| format!("object {}", key.hex()), |r| r.name);
            let aside = cache.quarantine(key, &name, &reason)?;
            eprintln!(
                "render: {name}: {reason}; moved to {}",
                commands::relative(&root, &aside)
            );
            quarantined += 1;
        }
        eprintln!(
            "render: verified {} objects: {} intact, {quarantined} quarantined",
            keys.len(),
            keys.len() - quarantined
        );
        Ok(if quarantined > 0 {
            commands::EXIT_FAILED
        } else {
            0
        })
    })();
    commands::exit_code(result)
}
