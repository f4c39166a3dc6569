//! The routes of `render serve`: the pages (`/`, `/scenes/{project}/{scene}`, a scene's
//! variants side by side at `/scenes/{project}/{scene}/compare`, `/builds`),
//! the JSON API (`/api/…`, the table in docs/studio.md), the event stream
//! (`/api/events`, server-sent events: every build event as one JSON object with its
//! build's id) and media (`/media/out/…`, `/media/objects/{key}/…`, `media.rs`). Every
//! request passes `access::check` first. The folder is read on each request (`scenes.rs`,
//! on a blocking thread): a page always shows the folder as it is now.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cache::Cache;
use crate::history::History;
use crate::studio::access::{self, Access};
use crate::studio::builds::{Builds, Refused};
use crate::studio::{media, scenes};

pub struct Studio {
    pub root: PathBuf,
    pub builds: Arc<Builds>,
}

type App = State<Arc<Studio>>;

pub fn router(studio: Arc<Studio>, access: Arc<Access>) -> Router {
    Router::new()
        .route("/", get(scenes_page))
        .route("/scenes/{project}/{scene}", get(scene_page))
        .route("/scenes/{project}/{scene}/compare", get(compare_page))
        .route("/builds", get(builds_page))
        .route("/api/scenes", get(api_scenes))
        .route("/api/scenes/{project}/{scene}", get(api_scene))
        .route("/api/builds", get(api_builds).post(api_start))
        .route("/api/builds/current", delete(api_cancel))
        .route("/api/builds/{id}", get(api_build))
        .route("/api/events", get(api_events))
        .route("/media/out/{*path}", get(out_file))
        .route("/media/objects/{key}/{*path}", get(object_file))
        .fallback(|| async { media::not_found() })
        .with_state(studio)
        .layer(axum::middleware::from_fn_with_state(access, access::check))
}

async fn look(studio: &Studio) -> scenes::Folder {
    let root = studio.root.clone();
    tokio::task::spawn_blocking(move || scenes::look(&root))
        .await
        .unwrap_or(scenes::Folder {
            scenes: Vec::new(),
            errors: vec!["render could not read the folder".into()],
        })
}

fn history(studio: &Studio) -> Vec<crate::history::BuildRecord> {
    let mut builds = History::of(&Cache::new(&studio.root)).read().builds;
    builds.reverse();
    builds
}

fn page(name: &str, context: Value) -> Response {
    match crate::templates::render(name, context) {
        Ok(html) => Html(html).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}\n")).into_response(),
    }
}

async fn scenes_page(State(studio): App) -> Response {
    let folder = look(&studio).await;
    page(
        "scenes.html",
        json!({
            "title": "Scenes", "folder": folder, "running": studio.builds.running(),
            "root": studio.root.display().to_string(),
        }),
    )
}

async fn scene_page(State(studio): App, Path((project, name)): Path<(String, String)>) -> Response {
    let folder = look(&studio).await;
    let Some(scene) = (folder.scenes.iter()).find(|s| s.project == project && s.name == name)
    else {
        return media::not_found();
    };
    page(
        "scene.html",
        json!({
            "title": format!("{project}/{name}"), "scene": scene, "errors": folder.errors,
            "running": studio.builds.running(),
        }),
    )
}

/// A scene's variants side by side, playing in sync (404 for a scene without variants).
async fn compare_page(
    State(studio): App,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let folder = look(&studio).await;
    let Some(scene) = (folder.scenes.iter())
        .find(|s| s.project == project && s.name == name && !s.variants.is_empty())
    else {
        return media::not_found();
    };
    page(
        "compare.html",
        json!({
            "title": format!("{project}/{name}: variants"), "scene": scene,
            "errors": folder.errors, "running": studio.builds.running(),
        }),
    )
}

async fn builds_page(State(studio): App) -> Response {
    page(
        "builds.html",
        json!({
            "title": "Builds", "builds": studio.builds.list(), "history": history(&studio),
            "running": studio.builds.running(),
        }),
    )
}

async fn api_scenes(State(studio): App) -> Json<scenes::Folder> {
    Json(look(&studio).await)
}

async fn api_scene(State(studio): App, Path((project, name)): Path<(String, String)>) -> Response {
    let folder = look(&studio).await;
    match (folder.scenes.into_iter()).find(|s| s.project == project && s.name == name) {
        Some(scene) => Json(scene).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no scene {project}/{name}") })),
        )
            .into_response(),
    }
}

async fn api_builds(State(studio): App) -> Json<Value> {
    Json(json!({
        "running": studio.builds.running(),
        "builds": studio.builds.list(),
        "history": history(&studio),
    }))
}

async fn api_build(State(studio): App, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| studio.builds.get(id)) {
        Some(build) => Json(build).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no build {id}") })),
        )
            .into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartBuild {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    force: bool,
}

async fn api_start(State(studio): App, body: axum::body::Bytes) -> Response {
    let request: StartBuild = if body.iter().all(u8::is_ascii_whitespace) {
        StartBuild::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(error) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": format!("the body is not a build request: {error}") })),
                )
                    .into_response()
            }
        }
    };
    match studio.builds.start(request.targets, request.force, "api") {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response(),
        Err(Refused::Busy(id)) => (
            StatusCode::CONFLICT,
            Json(json!({ "error": "a build is running", "running": id })),
        )
            .into_response(),
        Err(Refused::Failed(why)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("cannot start a build: {why}") })),
        )
            .into_response(),
    }
}

async fn api_cancel(State(studio): App) -> Response {
    match studio.builds.stop() {
        Some(id) => (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no build is running" })),
        )
            .into_response(),
    }
}

async fn api_events(
    State(studio): App,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    use futures_util::StreamExt;
    let hello = json!({ "event": "hello", "running": studio.builds.running() });
    let first = futures_util::stream::once(async move { hello });
    let events = futures_util::stream::unfold(studio.builds.subscribe(), |mut events| async move {
        loop {
            match events.recv().await {
                Ok(event) => return Some((event, events)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = first
        .chain(events)
        .map(|event| Ok(Event::default().data(event.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The path after `prefix`, percent-decoded (the router's own extractor answers 400 to a
/// path that is not UTF-8 once decoded; here every refusal is the same 404).
fn after(uri: &Uri, prefix: &str) -> Option<String> {
    media::percent_decoded(uri.path().strip_prefix(prefix)?)
}

async fn out_file(State(studio): App, uri: Uri, headers: HeaderMap) -> Response {
    let file =
        after(&uri, "/media/out/").and_then(|path| media::confine(&studio.root.join("out"), &path));
    media::serve(file, &headers).await
}

async fn object_file(State(studio): App, uri: Uri, headers: HeaderMap) -> Response {
    let objects = Cache::new(&studio.root).objects_dir();
    let file = after(&uri, "/media/objects/").and_then(|rest| {
        let (key, path) = rest.split_once('/')?;
        media::confine(&media::object_dir(&objects, key)?, path)
    });
    media::serve(file, &headers).await
}
