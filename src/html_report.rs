//! The build report, `out/report.html`: the page someone opens the morning after a nightly
//! build. Every declared episode (poster, duration, parts, captions) and scene with its poster, duration, contact sheet and a link to its
//! video; what was made, reused, failed and skipped, with times; each failure with its
//! message and the end of its log; what changed in `out/`; the GPU lane's timeline; the
//! trend of recent builds; the totals.
//!
//! This module only writes HTML, from data render already keeps (the history's records,
//! each scene's `scene.json`, which stills are in `out/`); `commands::report` gathers it.
//! So the page is a pure function, tested here without a build. It is self-contained —
//! inline CSS, charts as inline SVG, no script, nothing fetched — so it opens from a file
//! share or a CI artifact as it is. Links are relative to `out/`, where the page lives.
//! The markup is `templates/report.html` (`crate::templates`, minijinja with autoescape):
//! this module lays out the data — counts, rows, the charts' geometry — and the template
//! escapes every text that comes from a user or a program (names, messages, logs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::history::{self, BuildRecord, Failure, LaneEntry};
use crate::published::GENERATOR;
use crate::stage::episode;
use crate::stage::scene::Info;

/// How many builds the trend shows (this one included).
pub const TREND: usize = 30;
/// The work table lists at most this many artifacts (a first build of a large folder
/// makes tens of thousands); the counts above it stay exact.
const MAX_ROWS: usize = 2_000;

/// What the page shows.
pub struct Page<'a> {
    /// The build the page reports.
    pub build: &'a BuildRecord,
    /// The builds before it, oldest first.
    pub earlier: &'a [BuildRecord],
    /// Every declared episode, in the manifest's order (shown before the scenes).
    pub episodes: &'a [Episode],
    /// Every declared scene, in the manifest's order.
    pub scenes: &'a [Scene],
    /// The scenes' engines declared `commercial = false`, in one sentence (issue 22).
    pub not_commercial: Option<&'a str>,
}

/// A project's declared episode.
pub struct Episode {
    /// The project's name.
    pub project: String,
    /// What the build did with it (as a scene's status).
    pub status: String,
    /// Its parts in frames, when its object is in the cache.
    pub info: Option<episode::Info>,
    /// Its parts' names in order: `intro`, the scenes' names, `outro`.
    pub parts: Vec<String>,
    /// Its files in `out/` that exist, relative to `out/` (`demo.mp4`).
    pub video: Option<String>,
    pub poster: Option<String>,
    pub srt: Option<String>,
    pub vtt: Option<String>,
}

/// One declared scene.
pub struct Scene {
    /// `project/scene`.
    pub name: String,
    /// What the build did with it: made | reused | failed | skipped | cancelled |
    /// not-started | not built (the build named other targets).
    pub status: String,
    /// Its timeline, when its object is in the cache.
    pub info: Option<Info>,
    /// Its files in `out/` that exist, relative to `out/` (`demo/welcome.mp4`).
    pub video: Option<String>,
    pub poster: Option<String>,
    pub sheet: Option<String>,
}

/// The whole page: its data laid out for `templates/report.html`, which writes the markup
/// (every value escaped there).
pub fn render(page: &Page) -> String {
    let build = page.build;
    let failed = !build.failures.is_empty() || build.exit != 0;
    let context = json!({
        "generator": GENERATOR,
        "css": CSS,
        "started": history::utc(build.started),
        "failed": failed,
        "verdict": verdict(build),
        "not_commercial": page.not_commercial,
        "totals": totals(build),
        "failures": failures(&build.failures),
        "episodes": episodes(page.episodes, &build.failures),
        "scenes": scenes(page.scenes, &build.failures),
        "variants": variants(build),
        "changes": &build.changes,
        "work": work(build),
        "lane": lane(build),
        "trend": trend(page.earlier, build),
    });
    crate::templates::render("report.html", context).expect("the report's template renders")
}

/// One sentence: how the build went.
fn verdict(build: &BuildRecord) -> String {
    let c = &build.counts;
    let outcome = match build.exit {
        0 => "succeeded".to_string(),
        130 => "was interrupted (Ctrl-C)".to_string(),
        code => format!("failed (exit code {code})"),
    };
    format!(
        "The build {outcome} in {}: {} made, {} reused, {} failed, {} skipped.",
        duration(build.seconds()),
        c.made,
        c.reused,
        c.failed,
        c.skipped
    )
}

fn totals(build: &BuildRecord) -> Value {
    let c = &build.counts;
    let counts: Vec<Value> = [
        ("made", c.made),
        ("reused", c.reused),
        ("failed", c.failed),
        ("skipped", c.skipped),
        ("cancelled", c.cancelled),
        ("not-started", c.not_started),
        ("published", c.published),
        ("removed", c.removed),
    ]
    .into_iter()
    .map(|(name, count)| {
        let bad = count > 0 && matches!(name, "failed" | "skipped" | "cancelled");
        json!({ "name": name, "label": name.replace('-', " "), "count": count, "bad": bad })
    })
    .collect();
    let made_seconds: f64 = (build.artifacts.iter())
        .filter(|a| a.status == "made")
        .map(|a| a.seconds)
        .sum();
    json!({
        "counts": counts,
        "started": history::utc(build.started),
        "host": build.host,
        "ended": history::utc(build.ended),
        "took": duration(build.seconds()),
        "work": duration(made_seconds),
        "exit": build.exit,
        "command": build.command.join(" "),
    })
}

fn failures(failures: &[Failure]) -> Vec<Value> {
    (failures.iter())
        .map(|f| json!({ "artifact": f.artifact, "message": f.message.trim_end() }))
        .collect()
}

/// Whether `failure` is of one of `scene`'s artifacts: the scene, or one of its lines'.
fn of_scene(failure: &Failure, scene: &str) -> bool {
    let Some((_, name)) = failure.artifact.split_once(' ') else {
        return false;
    };
    name == scene
        || name
            .strip_prefix(scene)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// A poster or video link and its duration line, shared by episodes and scenes.
fn seconds_line(
    seconds: f64,
    count: usize,
    what: &str,
    width: u32,
    height: u32,
    fps: String,
) -> Value {
    json!({
        "seconds": format!("{seconds:.3}"),
        "duration": duration(seconds),
        "rest": format!(
            "{count} {what}{} · {width}×{height} at {fps} fps",
            if count == 1 { "" } else { "s" }
        ),
    })
}

/// Each episode: its poster (linked to its video), duration, parts in order with their
/// lengths, and its captions. Its poster is not lazy: it is near the top and one image.
fn episodes(episodes: &[Episode], failures: &[Failure]) -> Vec<Value> {
    let mut list = Vec::new();
    for episode in episodes {
        let info = (episode.info.as_ref()).map(|info| {
            let seconds = info.fps.seconds(info.frames);
            seconds_line(
                seconds,
                info.parts.len(),
                "part",
                info.width,
                info.height,
                info.fps.decimal(),
            )
        });
        // Its parts: lengths from its info when they match the declared parts.
        let lengths: Option<Vec<f64>> = (episode.info.as_ref())
            .filter(|info| info.parts.len() == episode.parts.len())
            .map(|info| {
                (info.parts.iter())
                    .map(|part| info.fps.seconds(part.frames))
                    .collect()
            });
        let parts: Vec<Value> = (episode.parts.iter().enumerate())
            .map(|(i, part)| match lengths.as_ref().map(|l| l[i]) {
                Some(seconds) => json!({
                    "name": part, "seconds": format!("{seconds:.3}"), "length": duration(seconds)
                }),
                None => json!({ "name": part }),
            })
            .collect();
        let captions: Vec<Value> = [&episode.srt, &episode.vtt]
            .into_iter()
            .flatten()
            .map(|file| json!({ "href": href(file), "name": file }))
            .collect();
        let artifact = format!("episode {}", episode.project);
        let failed: Vec<&Failure> = failures.iter().filter(|f| f.artifact == artifact).collect();
        let mut entry = published(
            &episode.project,
            &episode.status,
            [&episode.video, &episode.poster],
            info,
            &failed,
        );
        entry.insert("parts".into(), parts.into());
        entry.insert("captions".into(), captions.into());
        list.push(entry.into());
    }
    list
}

/// What a scene's and an episode's entries share: name, status, video and poster (an
/// earlier build's, when this one did not make them), the info line, the failures.
fn published(
    name: &str,
    status: &str,
    [video, poster]: [&Option<String>; 2],
    info: Option<Value>,
    failed: &[&Failure],
) -> serde_json::Map<String, Value> {
    let entry = json!({
        "name": name,
        "status": status,
        "class": status.replace(' ', "-"),
        "video": video.as_deref().map(href),
        "poster": poster.as_deref().map(href),
        "info": info,
        // Files in `out/` that are not this build's: an earlier build's.
        "earlier": !matches!(status, "made" | "reused") && (poster.is_some() || video.is_some()),
        "failures": failures_of(failed),
    });
    match entry {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object"),
    }
}

fn failures_of(failed: &[&Failure]) -> Vec<Value> {
    (failed.iter())
        .map(|f| json!({ "artifact": f.artifact, "message": f.message.trim_end() }))
        .collect()
}

fn scenes(scenes: &[Scene], failures: &[Failure]) -> Vec<Value> {
    let mut list = Vec::new();
    for scene in scenes {
        let info = (scene.info.as_ref()).map(|info| {
            seconds_line(
                info.seconds(),
                info.lines.len(),
                "line",
                info.width,
                info.height,
                info.fps.decimal(),
            )
        });
        let failed: Vec<&Failure> = failures
            .iter()
            .filter(|f| of_scene(f, &scene.name))
            .collect();
        let mut entry = published(
            &scene.name,
            &scene.status,
            [&scene.video, &scene.poster],
            info,
            &failed,
        );
        entry.insert("sheet".into(), scene.sheet.as_deref().map(href).into());
        list.push(entry.into());
    }
    list
}

/// The scene variants the build recorded, each with its build time (everything behind its
/// video, and the part no other variant shares) and its engines.
fn variants(build: &BuildRecord) -> Vec<Value> {
    let took = |seconds: Option<f64>| seconds.map_or_else(|| "not made".to_string(), duration);
    (build.variants.iter())
        .map(|v| {
            json!({
                "name": v.name,
                "video": href(v.video.strip_prefix("out/").unwrap_or(&v.video)),
                "seconds": v.seconds,
                "took": took(v.seconds),
                "own": took(v.own_seconds),
                "made": duration(v.made_seconds),
                "engines": v.engines.join(", "),
            })
        })
        .collect()
}

fn work(build: &BuildRecord) -> Value {
    // Failures first, then in the order they started.
    let mut rows: Vec<_> = build.artifacts.iter().collect();
    rows.sort_by(|a, b| {
        let rank = |s: &str| match s {
            "failed" => 0,
            "made" => 2,
            _ => 1,
        };
        (rank(&a.status).cmp(&rank(&b.status))).then(
            a.start
                .unwrap_or(f64::MAX)
                .total_cmp(&b.start.unwrap_or(f64::MAX)),
        )
    });
    let shown: Vec<Value> = (rows.iter().take(MAX_ROWS))
        .map(|a| {
            json!({
                "name": a.name,
                "kind": a.kind,
                "status": a.status,
                "start": a.start.map_or_else(|| "—".to_string(), |s| format!("{s:.1} s")),
                "took": if a.status == "made" { duration(a.seconds) } else { "—".into() },
                "host": a.host.as_deref().unwrap_or("—"),
            })
        })
        .collect();
    // A farm's build: which node made what, and its time.
    let nodes: Vec<Value> = (history::made_on_nodes(build).into_iter())
        .map(|(node, (made, seconds))| json!({"node": node, "made": made, "took": duration(seconds)}))
        .collect();
    json!({
        "nodes": nodes,
        "reused": build.counts.reused,
        "rows": shown,
        "more": rows.len().saturating_sub(MAX_ROWS),
    })
}

/// The GPU lanes as a chart, a bar per call, loads and unloads marked: a row per lane
/// (its device), or with one lane a row per model. Null when there was no GPU work.
fn lane(build: &BuildRecord) -> Value {
    if build.lane.is_empty() {
        return Value::Null;
    }
    let lanes: std::collections::BTreeSet<usize> = build.lane.iter().map(|e| e.lane).collect();
    // Each row: its label and which entries it draws.
    type Row = (String, Box<dyn Fn(&LaneEntry) -> bool>);
    let mut rows: Vec<Row> = Vec::new();
    if lanes.len() > 1 {
        for lane in lanes {
            let device = (build.lane.iter().find(|e| e.lane == lane)).map_or("", |e| &e.device);
            rows.push((
                format!("lane {lane} ({device})"),
                Box::new(move |e: &LaneEntry| e.lane == lane),
            ));
        }
    } else {
        let mut models: Vec<String> = Vec::new();
        for entry in &build.lane {
            if !models.contains(&entry.model) {
                models.push(entry.model.clone());
            }
        }
        for model in models {
            rows.push((
                model.clone(),
                Box::new(move |e: &LaneEntry| e.model == model),
            ));
        }
    }
    let end = (build.lane.iter().map(|e| e.seconds))
        .fold(build.seconds(), f64::max)
        .max(0.001);
    let (left, width, row) = (160.0, 820.0, 28.0);
    let x = |seconds: f64| left + seconds / end * width;
    let height = 30.0 + row * rows.len() as f64;
    let bar = |artifact: &str, start: f64, stop: f64, y: f64| {
        json!({
            "x": format!("{:.1}", x(start)),
            "y": format!("{:.1}", y + 2.0),
            "width": format!("{:.1}", (x(stop) - x(start)).max(1.0)),
            "name": artifact,
            "took": duration(stop - start),
        })
    };
    let mut drawn = Vec::new();
    for (i, (label, draws)) in rows.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let (mut bars, mut marks) = (Vec::new(), Vec::new());
        // A call is its start paired with its end (or the lane's end, if it never ended).
        let mut open: BTreeMap<&str, f64> = BTreeMap::new();
        for entry in build.lane.iter().filter(|e| draws(e)) {
            let artifact = entry.artifact.as_deref().unwrap_or("");
            match entry.event.as_str() {
                "start" => {
                    open.insert(artifact, entry.seconds);
                }
                "end" => {
                    let start = open.remove(artifact).unwrap_or(entry.seconds);
                    bars.push(bar(artifact, start, entry.seconds, y));
                }
                event => marks.push(json!({
                    "event": event,
                    "model": entry.model,
                    "at": format!("{:.2}", entry.seconds),
                    "x": format!("{:.1}", x(entry.seconds)),
                    "y1": format!("{y:.1}"),
                    "y2": format!("{:.1}", y + 20.0),
                })),
            }
        }
        for (artifact, start) in open {
            bars.push(bar(artifact, start, end, y));
        }
        drawn.push(json!({
            "label": label,
            "text_y": format!("{:.1}", y + 15.0),
            "line_y": format!("{:.1}", y + 10.0),
            "bars": bars,
            "marks": marks,
        }));
    }
    json!({
        "height": height,
        "left": left,
        "right": left + width,
        "rows": drawn,
        "axis_y": format!("{:.1}", height - 4.0),
        "end": duration(end),
    })
}

/// Build time and failures of the last [`TREND`] builds, a bar each.
fn trend(earlier: &[BuildRecord], build: &BuildRecord) -> Value {
    let skip = earlier.len().saturating_sub(TREND - 1);
    let builds: Vec<&BuildRecord> = earlier[skip..].iter().chain([build]).collect();
    let longest = (builds.iter().map(|b| b.seconds())).fold(0.001, f64::max);
    let (top, height, step) = (20.0, 120.0, 960.0 / TREND as f64);
    let bars: Vec<Value> = (builds.iter().enumerate())
        .map(|(i, b)| {
            let seconds = b.seconds();
            let bar = (seconds / longest * height).max(1.0);
            let x = 40.0 + step * i as f64;
            let failed = b.counts.failed;
            json!({
                "seconds": format!("{seconds:.3}"),
                "failed": failed,
                "utc": history::utc(b.started),
                "took": duration(seconds),
                "exit": b.exit,
                "class": if failed > 0 || b.exit != 0 { "build failed" } else { "build" },
                "x": format!("{x:.1}"),
                "y": format!("{:.1}", top + height - bar),
                "width": format!("{:.1}", step * 0.7),
                "height": format!("{bar:.1}"),
                "fx": format!("{:.1}", x + step * 0.35),
                "fy": format!("{:.1}", top + height + 16.0),
            })
        })
        .collect();
    json!({
        "count": builds.len(),
        "longest": duration(longest),
        "top": top,
        "bars": bars,
    })
}

/// `0.42 s`, `12.3 s`, `2 min 05 s`, `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 10.0 {
        format!("{seconds:.2} s")
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        let whole = seconds.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        let minutes = (seconds / 60.0).round() as u64;
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

/// A relative path as a link: each byte that is not plainly safe in a URL is
/// percent-encoded (a scene may be named `Q&A #2`), so the result needs no HTML escaping.
pub fn href(path: &str) -> String {
    let mut link = String::with_capacity(path.len());
    for &byte in path.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            link.push(byte as char);
        } else {
            let _ = write!(link, "%{byte:02X}");
        }
    }
    link
}

const CSS: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 32px;color:#1d1d1f;background:#fafafa}
header{border-bottom:4px solid #2e7d32;margin-bottom:12px}
body.failed header{border-color:#c62828}
h1{margin:16px 0 4px;font-size:24px}h2{margin:28px 0 8px;font-size:19px}h3{margin:0 0 6px;font-size:15px;word-break:break-all}
.verdict{font-size:17px;margin:4px 0 12px}
.not-commercial{border-left:4px solid #c62828;padding:4px 10px;font-weight:600}
code{font:13px ui-monospace,monospace}
pre{font:12px/1.35 ui-monospace,monospace;background:#fff3f3;border:1px solid #f0c4c4;padding:8px;overflow-x:auto;white-space:pre-wrap;margin:4px 0}
dl.counts{display:flex;flex-wrap:wrap;gap:8px;margin:0}
.count{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:80px}
.count dt{font-size:12px;color:#666}.count dd{margin:0;font-size:20px;font-weight:600}
.count.bad dd{color:#c62828}
.failure{background:#fff;border-left:4px solid #c62828;padding:6px 10px;margin:8px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
.scene,.episode{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
.scene.status-failed,.scene.status-skipped,.episode.status-failed,.episode.status-skipped{border-color:#c62828}
ol.parts{font-size:13px;margin:6px 0;padding-left:22px}.part .length{color:#666}
.captions{font-size:13px;margin:6px 0}
img.poster{width:100%;height:auto;display:block;border-radius:4px;background:#222}
.poster.missing{aspect-ratio:16/9;display:flex;align-items:center;justify-content:center;background:#eee;color:#888;border-radius:4px}
img.sheet{width:100%;height:auto;margin-top:6px}
.meta{font-size:13px;color:#444;margin:6px 0}
.status{font-weight:600}
.status-failed .status,.status-skipped .status{color:#c62828}
.note{font-size:13px;color:#8a5a00}
.none{color:#666}
#changes li{margin:2px 0}.change-removed code{text-decoration:line-through}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left}
tr.status-failed td{color:#c62828}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:6px}
svg .label,svg .axis{font:12px system-ui,sans-serif;fill:#444}
svg .track{stroke:#ddd}
svg .call{fill:#1565c0}
svg .mark line{stroke-width:3}svg .load line{stroke:#2e7d32}svg .unload line{stroke:#888}svg .load-failed line{stroke:#c62828}
svg .build{fill:#78909c}svg .build.failed{fill:#c62828}
svg .failures{font:12px system-ui,sans-serif;fill:#c62828}
.legend{font-size:12px;color:#555}
.key{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-left:10px}
.key.call{background:#1565c0}.key.load{background:#2e7d32}.key.unload{background:#888}.key.build{background:#78909c}.key.failed{background:#c62828}
footer{margin-top:32px;font-size:12px;color:#888}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ArtifactRun, Counts, OutChange};

    fn build(failed: bool) -> BuildRecord {
        BuildRecord {
            version: history::VERSION,
            started: 1_795_489_212.0,
            ended: 1_795_489_242.5,
            host: "night<1>".into(),
            command: vec!["render".into(), "build".into(), "--keep-going".into()],
            exit: i32::from(failed),
            counts: Counts {
                made: 2,
                reused: 5,
                failed: usize::from(failed),
                skipped: usize::from(failed),
                ..Counts::default()
            },
            artifacts: vec![ArtifactRun {
                name: "clip demo/<b>:2".into(),
                kind: "clip".into(),
                key: "00".into(),
                status: if failed { "failed" } else { "made" }.into(),
                start: Some(1.0),
                seconds: 2.0,
                host: None,
                variants: Vec::new(),
            }],
            failures: if failed {
                vec![Failure {
                    artifact: "clip demo/<b>:2".into(),
                    message: "cannot make clip demo/<b>:2\n  lipsync exited with status 3\n  log: <script>alert(1)</script>".into(),
                }]
            } else {
                Vec::new()
            },
            changes: vec![OutChange {
                path: "out/demo/a.mp4".into(),
                change: "added".into(),
            }],
            lane: vec![
                LaneEntry {
                    seconds: 0.5,
                    event: "load".into(),
                    model: "wav2lip".into(),
                    artifact: None,
                    lane: 0,
                    device: "cuda:0".into(),
                },
                LaneEntry {
                    seconds: 1.0,
                    event: "start".into(),
                    model: "wav2lip".into(),
                    artifact: Some("clip demo/a:1".into()),
                    lane: 0,
                    device: "cuda:0".into(),
                },
                LaneEntry {
                    seconds: 3.0,
                    event: "end".into(),
                    model: "wav2lip".into(),
                    artifact: Some("clip demo/a:1".into()),
                    lane: 0,
                    device: "cuda:0".into(),
                },
                LaneEntry {
                    seconds: 3.5,
                    event: "unload".into(),
                    model: "wav2lip".into(),
                    artifact: None,
                    lane: 0,
                    device: "cuda:0".into(),
                },
            ],
            ..BuildRecord::default()
        }
    }

    fn scenes() -> Vec<Scene> {
        vec![
            Scene {
                name: "demo/a".into(),
                status: "made".into(),
                info: Some(Info {
                    fps: crate::fps::Fps::whole(25),
                    width: 320,
                    height: 180,
                    frames: 50,
                    lines: vec![20, 30],
                }),
                video: Some("demo/a.mp4".into()),
                poster: Some("demo/a.jpg".into()),
                sheet: Some("demo/a.sheet.jpg".into()),
            },
            Scene {
                name: "demo/<b>".into(),
                status: "skipped".into(),
                info: None,
                video: None,
                poster: None,
                sheet: None,
            },
        ]
    }

    #[test]
    fn text_from_users_and_programs_is_escaped() {
        assert_eq!(
            crate::templates::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            href("Q&A #2/scène 1.mp4"),
            "Q%26A%20%232/sc%C3%A8ne%201.mp4"
        );
        let html = render(&Page {
            build: &build(true),
            earlier: &[],
            episodes: &[],
            scenes: &scenes(),
            not_commercial: None,
        });
        assert!(
            !html.contains("<script>"),
            "a log's markup reached the page"
        );
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("data-scene=\"demo/&lt;b&gt;\""));
        assert!(html.contains("<code>night&lt;1&gt;</code>"));
    }

    #[test]
    fn every_scene_is_shown_with_its_poster_duration_and_failures() {
        let html = render(&Page {
            build: &build(true),
            earlier: &[],
            episodes: &[],
            scenes: &scenes(),
            not_commercial: None,
        });
        assert!(html.contains("<a href=\"demo/a.mp4\">demo/a</a>"));
        assert!(html.contains("<img class=\"poster\" src=\"demo/a.jpg\""));
        assert!(html.contains("src=\"demo/a.sheet.jpg\""));
        assert!(html.contains("data-seconds=\"2.000\">2.00 s</span> · 2 lines · 320×180 at 25 fps"));
        // The skipped scene: listed, no poster, its line's failure under it and in the list.
        let skipped = html.split("data-scene=\"demo/&lt;b&gt;\"").nth(1).unwrap();
        let skipped = &skipped[..skipped.find("</section>").unwrap()];
        assert!(skipped.contains("no poster yet"));
        assert!(skipped.contains("class=\"scene-failure\""));
        assert!(skipped.contains("lipsync exited with status 3"));
        assert_eq!(html.matches("<article class=\"failure\"").count(), 1);
        assert!(html.contains("<body class=\"failed\">"));
        // A failure of another scene's line is not this scene's.
        let other = Failure {
            artifact: "clip demo/a2:1".into(),
            message: String::new(),
        };
        assert!(!of_scene(&other, "demo/a"));
        assert!(of_scene(
            &Failure {
                artifact: "scene demo/a".into(),
                message: String::new()
            },
            "demo/a"
        ));
    }

    #[test]
    fn an_episode_shows_its_poster_duration_parts_and_captions_escaped() {
        let episodes = [Episode {
            project: "<b>&\"x\"".into(),
            status: "made".into(),
            info: Some(episode::Info::new(
                &["intro", "scene", "scene"],
                &[6, 30, 18],
                crate::fps::Fps::whole(12),
                160,
                90,
            )),
            parts: vec!["intro".into(), "Q&A <2>".into(), "bye".into()],
            video: Some("<b>&\"x\".mp4".into()),
            poster: Some("<b>&\"x\".jpg".into()),
            srt: Some("<b>&\"x\".srt".into()),
            vtt: None,
        }];
        let html = render(&Page {
            build: &build(false),
            earlier: &[],
            episodes: &episodes,
            scenes: &scenes(),
            not_commercial: None,
        });
        assert!(!html.contains("<b>"), "a name's markup reached the page");
        assert!(html.contains("data-episode=\"&lt;b&gt;&amp;&quot;x&quot;\" data-status=\"made\""));
        assert!(html.contains(
            "<a class=\"play\" href=\"%3Cb%3E%26%22x%22.mp4\"><img class=\"poster\" src=\"%3Cb%3E%26%22x%22.jpg\""
        ));
        assert!(html.contains("data-seconds=\"4.500\">4.50 s</span> · 3 parts · 160×90 at 12 fps"));
        let parts: Vec<&str> = (html.split("data-part=\"").skip(1))
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert_eq!(parts, ["intro", "Q&amp;A &lt;2&gt;", "bye"]);
        assert!(html.contains(
            "data-seconds=\"2.500\">Q&amp;A &lt;2&gt; <span class=\"length\">2.50 s</span>"
        ));
        assert!(html.contains(
            "Captions: <a href=\"%3Cb%3E%26%22x%22.srt\">&lt;b&gt;&amp;&quot;x&quot;.srt</a></p>"
        ));
        // Before the scenes.
        assert!(html.find("id=\"episodes\"").unwrap() < html.find("id=\"scenes\"").unwrap());
        // No episode declared: no section.
        let none = render(&Page {
            build: &build(false),
            earlier: &[],
            episodes: &[],
            scenes: &scenes(),
            not_commercial: None,
        });
        assert!(!none.contains("id=\"episodes\""));
    }

    #[test]
    fn changes_lane_and_trend_are_drawn() {
        let earlier: Vec<BuildRecord> = (0..40).map(|i| build(i % 3 == 0)).collect();
        let html = render(&Page {
            build: &build(false),
            earlier: &earlier,
            episodes: &[],
            scenes: &scenes(),
            not_commercial: None,
        });
        assert!(html.contains("data-change=\"added\" data-path=\"out/demo/a.mp4\""));
        assert_eq!(html.matches("class=\"trend-build\"").count(), TREND);
        assert!(html.contains("The last 30 builds"));
        assert!(html.contains("<rect class=\"call\""));
        assert_eq!(html.matches("class=\"mark load\"").count(), 1);
        assert_eq!(html.matches("class=\"mark unload\"").count(), 1);
        assert!(html.contains("<body class=\"ok\">"));
        assert!(!html.contains("http"), "the page fetches nothing");
    }

    #[test]
    fn a_farms_build_shows_which_node_made_what() {
        let page = |build: &BuildRecord| {
            render(&Page {
                build,
                earlier: &[],
                episodes: &[],
                scenes: &scenes(),
                not_commercial: None,
            })
        };
        let local = build(false);
        let mut on_farm = local.clone();
        let run = on_farm.artifacts[0].clone();
        on_farm.artifacts = [("n1", 2.0), ("n2", 3.5), ("n1", 1.5)]
            .map(|(host, seconds)| ArtifactRun {
                host: Some(host.into()),
                seconds,
                ..run.clone()
            })
            .to_vec();
        let html = page(&on_farm);
        assert!(html.contains("<tr class=\"node\" data-node=\"n1\" data-made=\"2\"><td>n1</td><td>2</td><td>3.50 s</td></tr>"), "{html}");
        assert!(html.contains("data-node=\"n2\" data-made=\"1\""));
        assert_eq!(html.matches("<th>node</th>").count(), 2);
        // Made here, on the build's own host: no node table.
        let mut here = local.clone();
        here.artifacts[0].host = Some(here.host.clone());
        assert!(!page(&here).contains("<th>node</th>"));
        assert!(!page(&local).contains("<th>node</th>"));
    }

    #[test]
    fn the_verdict_says_how_the_build_ended() {
        let mut stopped = build(false);
        stopped.exit = 130;
        assert!(verdict(&stopped).starts_with("The build was interrupted (Ctrl-C) in 30.5 s"));
        assert!(verdict(&build(true)).starts_with(
            "The build failed (exit code 1) in 30.5 s: 2 made, 5 reused, 1 failed, 1 skipped"
        ));
    }

    #[test]
    fn variants_are_shown_with_their_build_times_and_engines() {
        let mut record = build(false);
        record.variants = vec![history::VariantTime {
            name: "demo/a&b@w2l".into(),
            video: "out/demo/a&b@w2l.mp4".into(),
            key: "00".into(),
            seconds: Some(12.5),
            own_seconds: Some(4.25),
            made_seconds: 0.0,
            engines: vec!["espeak".into(), "wav2lip".into()],
        }];
        let html = render(&Page {
            build: &record,
            earlier: &[],
            episodes: &[],
            scenes: &[],
            not_commercial: None,
        });
        assert!(html.contains("<section id=\"variants\">"), "{html}");
        assert!(
            html.contains("<a href=\"demo/a%26b%40w2l.mp4\">demo/a&amp;b@w2l</a>"),
            "{html}"
        );
        assert!(
            html.contains("12.5 s</td><td>4.25 s</td><td>0.00 s</td><td>espeak, wav2lip</td>"),
            "{html}"
        );
        let none = render(&Page {
            build: &build(false),
            earlier: &[],
            episodes: &[],
            scenes: &[],
            not_commercial: None,
        });
        assert!(!none.contains("id=\"variants\""));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.421), "0.42 s");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
