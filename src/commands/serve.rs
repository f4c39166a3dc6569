//! `render serve [DIR] [--port P] [--bind ADDR] [--watch]`: the folder as a local web app
//! and a JSON API (`studio::app`; the guide, docs/studio.md, has the table). Builds are
//! children (`studio::child`), one at a time; with `--watch`, every saved change starts
//! one (stopping a running one first), as `render watch` does.
//!
//! Builds it did not start (`render build` in a terminal) reach open pages too: the
//! history is followed (`studio::recorded`).
//!
//! Ctrl-C stops a running build (its own Ctrl-C path: cache consistent) and exits 130.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::ServeArgs;
use crate::commands;
use crate::studio::access::Access;
use crate::studio::app::{self, Studio};
use crate::studio::builds::Builds;
use crate::studio::changes::Changes;

pub fn run(args: &ServeArgs) -> i32 {
    let root = match commands::folder(args.folder.dir.as_deref())
        .and_then(|dir| commands::content_root(&dir))
    {
        Ok(root) => root,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let access = Access::for_bind(args.bind, args.token.clone(), args.public_read);
    if args.token.is_none() {
        if let Some(token) = &access.token {
            eprintln!(
                "render: {} is not a loopback address, so requests need this token (printed once): {token}",
                args.bind
            );
        }
    }
    let builds = Builds::new(root.clone());
    let studio = Arc::new(Studio {
        root: root.clone(),
        builds: Arc::clone(&builds),
    });
    // Every build on the folder reaches open pages, whoever started it.
    {
        let (root, builds) = (root.clone(), Arc::clone(&builds));
        std::thread::spawn(move || crate::studio::recorded::follow(root, builds));
    }
    if args.watch {
        match Changes::watch(&root) {
            Ok(changes) => {
                let builds = Arc::clone(&builds);
                std::thread::spawn(move || watch(builds, changes));
            }
            Err(error) => {
                eprintln!("render: cannot watch {}: {error}", root.display());
                return commands::EXIT_FAILED;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("render: cannot start the server: {error}");
            return commands::EXIT_FAILED;
        }
    };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.bind, args.port)).await?;
        let address = listener.local_addr()?;
        eprintln!("render: serving {} at http://{address}/", root.display());
        let router = app::router(studio, Arc::new(access));
        let interrupted = async {
            while !crate::process::interrupted() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            served = axum::serve(listener, router) => served,
            () = interrupted => Ok(()),
        }
    });
    if let Err(error) = served {
        eprintln!(
            "render: cannot serve on {}:{}: {error}",
            args.bind, args.port
        );
        return commands::EXIT_FAILED;
    }
    stop(&builds);
    runtime.shutdown_timeout(Duration::from_secs(1));
    commands::interrupted()
}

/// Stops a running build and waits for it to end.
fn stop(builds: &Builds) {
    if builds.stop().is_some() {
        let begun = Instant::now();
        while builds.running().is_some() && begun.elapsed() < super::watch::STOP_GRACE {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `--watch`: builds now, and again on every saved change (a running build is stopped
/// first, and the next starts with the new declarations).
pub fn watch(builds: Arc<Builds>, changes: Changes) {
    let mut changes = changes;
    let _ = builds.start(Vec::new(), false, "start");
    loop {
        let Some(paths) = changes.wait(Duration::from_secs(3600)) else {
            continue;
        };
        builds.announce(serde_json::json!({ "event": "changed", "paths": paths }));
        stop(&builds);
        let _ = builds.start(Vec::new(), false, &paths.join(", "));
    }
}
