//! The studio: `render watch` and `render serve` (issue 23), the daily loop of editing a
//! script and looking at the result.
//!
//! Both drive builds as a farm drives jobs: `render build --events -` of this executable
//! as a child in its own process group (`child.rs`), stopped by Ctrl-C to its group. So a
//! crash in a build never takes the server down, and every guarantee a build gives (one
//! at a time per folder, atomic commits, the history, the report, a consistent cache after
//! Ctrl-C) holds unchanged without a second, in-process way to cancel a build.
//!
//! - `changes.rs`: saved changes to the folder (notify, debounced; `cache/`, `out/` and
//!   hidden entries ignored), for `render watch` and `render serve --watch`;
//! - `child.rs`: one build as a child process, its events and its stop;
//! - `builds.rs`: the server's builds (one at a time, their events), fanned out to
//!   server-sent-event subscribers;
//! - `scenes.rs`: what the pages and the API show of the folder: each scene, its lines,
//!   what is stale and why (the same graph and reasons as `render plan`);
//! - `media.rs`: files from `out/` and `cache/objects/<key>/`, with range requests, and
//!   nothing else by any spelling;
//! - `recorded.rs`: builds anyone ran on the folder (a terminal's `render build`), told
//!   to the pages as the history records them;
//! - `access.rs`: who may read and change (loopback by default; a token otherwise; a JSON
//!   body for every change);
//! - `app.rs`: the routes (pages and `/api/…`), on axum.
//!
//! Pages come from `templates/` through `crate::templates` (minijinja, which escapes every
//! value in an `.html` template), as does `out/report.html`.
//!
//! Why these crates: axum (on tokio) is the maintained Rust HTTP stack with server-sent
//! events built in; minijinja escapes by default and loads templates at run time from
//! strings compiled into the binary (askama would generate code per template, a longer
//! build for the same guarantee); notify is what cargo-watch and watchexec use.

pub mod access;
pub mod app;
pub mod builds;
pub mod changes;
pub mod child;
pub mod media;
pub mod recorded;
pub mod scenes;
