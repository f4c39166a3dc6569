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
//! Every text that comes from a user or a program (names, messages, logs) is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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

impl Episode {
    fn current(&self) -> bool {
        matches!(self.status.as_str(), "made" | "reused")
    }
}

impl Scene {
    /// Whether the scene's files in `out/` are this build's (else they are an earlier
    /// build's, or there are none).
    fn current(&self) -> bool {
        matches!(self.status.as_str(), "made" | "reused")
    }
}

/// The whole page.
pub fn render(page: &Page) -> String {
    let build = page.build;
    let mut html = String::with_capacity(16 * 1024 + page.scenes.len() * 1024);
    let failed = !build.failures.is_empty() || build.exit != 0;
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{GENERATOR}\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>render: build of {}</title>\n<style>{CSS}</style>\n</head>\n\
         <body class=\"{}\">\n<header>\n<h1>Build of {} UTC</h1>\n<p class=\"verdict\">{}</p>\n</header>\n",
        history::utc(build.started),
        if failed { "failed" } else { "ok" },
        history::utc(build.started),
        escape(&verdict(build)),
    );
    // The licence notice: one block of its own, right under the verdict.
    if let Some(notice) = page.not_commercial {
        let _ = writeln!(html, "<p class=\"not-commercial\">{}</p>", escape(notice));
    }
    totals(&mut html, build);
    failures(&mut html, &build.failures);
    episodes(&mut html, page.episodes, &build.failures);
    scenes(&mut html, page.scenes, &build.failures);
    changes(&mut html, build);
    work(&mut html, build);
    lane(&mut html, build);
    trend(&mut html, page.earlier, build);
    html.push_str("<footer>Written by render. Links are relative to <code>out/</code>.</footer>\n</body>\n</html>\n");
    html
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

fn totals(html: &mut String, build: &BuildRecord) {
    let c = &build.counts;
    html.push_str("<section id=\"totals\">\n<h2>Totals</h2>\n<dl class=\"counts\">\n");
    for (name, count) in [
        ("made", c.made),
        ("reused", c.reused),
        ("failed", c.failed),
        ("skipped", c.skipped),
        ("cancelled", c.cancelled),
        ("not-started", c.not_started),
        ("published", c.published),
        ("removed", c.removed),
    ] {
        let bad = count > 0 && matches!(name, "failed" | "skipped" | "cancelled");
        let _ = writeln!(
            html,
            "<div class=\"count{}\" data-count=\"{name}\"><dt>{}</dt><dd>{count}</dd></div>",
            if bad { " bad" } else { "" },
            name.replace('-', " ")
        );
    }
    let made_seconds: f64 = (build.artifacts.iter())
        .filter(|a| a.status == "made")
        .map(|a| a.seconds)
        .sum();
    let _ = writeln!(
        html,
        "</dl>\n<p>Started {} UTC on <code>{}</code>, ended {} UTC: {} in all, {} of work \
         (artifacts made, summed over parallel jobs). Exit code <span id=\"exit\">{}</span>.</p>\n\
         <p>Command: <code>{}</code></p>\n</section>",
        history::utc(build.started),
        escape(&build.host),
        history::utc(build.ended),
        duration(build.seconds()),
        duration(made_seconds),
        build.exit,
        escape(&build.command.join(" ")),
    );
}

fn failures(html: &mut String, failures: &[Failure]) {
    let _ = writeln!(
        html,
        "<section id=\"failures\">\n<h2>Failures ({})</h2>",
        failures.len()
    );
    if failures.is_empty() {
        html.push_str("<p class=\"none\">Nothing failed.</p>\n");
    }
    for failure in failures {
        let _ = writeln!(
            html,
            "<article class=\"failure\" data-artifact=\"{0}\">\n<h3>{0}</h3>\n<pre class=\"message\">{1}</pre>\n</article>",
            escape(&failure.artifact),
            escape(failure.message.trim_end()),
        );
    }
    html.push_str("</section>\n");
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

/// Each episode: its poster (linked to its video), duration, parts in order with their
/// lengths, and its captions. Its poster is not lazy: it is near the top and one image.
fn episodes(html: &mut String, episodes: &[Episode], failures: &[Failure]) {
    if episodes.is_empty() {
        return;
    }
    let _ = writeln!(
        html,
        "<section id=\"episodes\">\n<h2>Episodes ({})</h2>\n<div class=\"grid\">",
        episodes.len()
    );
    for episode in episodes {
        let name = escape(&episode.project);
        let status = escape(&episode.status);
        let _ = writeln!(
            html,
            "<section class=\"episode status-{}\" data-episode=\"{name}\" data-status=\"{status}\">",
            status.replace(' ', "-")
        );
        match &episode.video {
            Some(video) => {
                let _ = writeln!(
                    html,
                    "<h3>Episode <a href=\"{}\">{name}</a></h3>",
                    href(video)
                );
            }
            None => {
                let _ = writeln!(html, "<h3>Episode {name}</h3>");
            }
        }
        match &episode.poster {
            Some(poster) => {
                let img = format!(
                    "<img class=\"poster\" src=\"{}\" alt=\"poster of the episode {name}\">",
                    href(poster)
                );
                match &episode.video {
                    Some(video) => {
                        let _ =
                            writeln!(html, "<a class=\"play\" href=\"{}\">{img}</a>", href(video));
                    }
                    None => html.push_str(&img),
                }
            }
            None => html.push_str("<div class=\"poster missing\">no poster yet</div>\n"),
        }
        let _ = write!(
            html,
            "<p class=\"meta\"><span class=\"status\">{status}</span>"
        );
        if let Some(info) = &episode.info {
            let seconds = info.fps.seconds(info.frames);
            let _ = write!(
                html,
                " · <span class=\"duration\" data-seconds=\"{seconds:.3}\">{}</span> · {} part{} · {}×{} at {} fps",
                duration(seconds),
                info.parts.len(),
                if info.parts.len() == 1 { "" } else { "s" },
                info.width,
                info.height,
                info.fps.decimal(),
            );
        }
        html.push_str("</p>\n");
        if !episode.current() && (episode.poster.is_some() || episode.video.is_some()) {
            html.push_str("<p class=\"note\">Its files in out/ are from an earlier build.</p>\n");
        }
        // Its parts: lengths from its info when they match the declared parts.
        let lengths: Option<Vec<f64>> = (episode.info.as_ref())
            .filter(|info| info.parts.len() == episode.parts.len())
            .map(|info| {
                (info.parts.iter())
                    .map(|part| info.fps.seconds(part.frames))
                    .collect()
            });
        html.push_str("<ol class=\"parts\">\n");
        for (i, part) in episode.parts.iter().enumerate() {
            let part = escape(part);
            match lengths.as_ref().map(|l| l[i]) {
                Some(seconds) => {
                    let _ = writeln!(
                        html,
                        "<li class=\"part\" data-part=\"{part}\" data-seconds=\"{seconds:.3}\">{part} \
                         <span class=\"length\">{}</span></li>",
                        duration(seconds)
                    );
                }
                None => {
                    let _ = writeln!(html, "<li class=\"part\" data-part=\"{part}\">{part}</li>");
                }
            }
        }
        html.push_str("</ol>\n");
        let captions: Vec<String> = [&episode.srt, &episode.vtt]
            .into_iter()
            .flatten()
            .map(|file| format!("<a href=\"{}\">{}</a>", href(file), escape(file)))
            .collect();
        if !captions.is_empty() {
            let _ = writeln!(
                html,
                "<p class=\"captions\">Captions: {}</p>",
                captions.join(" · ")
            );
        }
        let artifact = format!("episode {}", episode.project);
        for failure in failures.iter().filter(|f| f.artifact == artifact) {
            let _ = writeln!(
                html,
                "<div class=\"scene-failure\" data-artifact=\"{0}\"><strong>{0}</strong>\n<pre>{1}</pre></div>",
                escape(&failure.artifact),
                escape(failure.message.trim_end()),
            );
        }
        html.push_str("</section>\n");
    }
    html.push_str("</div>\n</section>\n");
}

fn scenes(html: &mut String, scenes: &[Scene], failures: &[Failure]) {
    let _ = writeln!(
        html,
        "<section id=\"scenes\">\n<h2>Scenes ({})</h2>\n<div class=\"grid\">",
        scenes.len()
    );
    for scene in scenes {
        let name = escape(&scene.name);
        let status = escape(&scene.status);
        let _ = writeln!(
            html,
            "<section class=\"scene status-{}\" data-scene=\"{name}\" data-status=\"{status}\">",
            status.replace(' ', "-")
        );
        match &scene.video {
            Some(video) => {
                let _ = writeln!(html, "<h3><a href=\"{}\">{name}</a></h3>", href(video));
            }
            None => {
                let _ = writeln!(html, "<h3>{name}</h3>");
            }
        }
        match (&scene.poster, &scene.video) {
            (Some(poster), video) => {
                let img = format!(
                    "<img class=\"poster\" src=\"{}\" alt=\"poster of {name}\" loading=\"lazy\">",
                    href(poster)
                );
                match video {
                    Some(video) => {
                        let _ =
                            writeln!(html, "<a class=\"play\" href=\"{}\">{img}</a>", href(video));
                    }
                    None => html.push_str(&img),
                }
            }
            (None, _) => html.push_str("<div class=\"poster missing\">no poster yet</div>\n"),
        }
        let _ = write!(
            html,
            "<p class=\"meta\"><span class=\"status\">{status}</span>"
        );
        if let Some(info) = &scene.info {
            let _ = write!(
                html,
                " · <span class=\"duration\" data-seconds=\"{:.3}\">{}</span> · {} line{} · {}×{} at {} fps",
                info.seconds(),
                duration(info.seconds()),
                info.lines.len(),
                if info.lines.len() == 1 { "" } else { "s" },
                info.width,
                info.height,
                info.fps.decimal(),
            );
        }
        html.push_str("</p>\n");
        if !scene.current() && (scene.poster.is_some() || scene.video.is_some()) {
            html.push_str("<p class=\"note\">Its files in out/ are from an earlier build.</p>\n");
        }
        for failure in failures.iter().filter(|f| of_scene(f, &scene.name)) {
            let _ = writeln!(
                html,
                "<div class=\"scene-failure\" data-artifact=\"{0}\"><strong>{0}</strong>\n<pre>{1}</pre></div>",
                escape(&failure.artifact),
                escape(failure.message.trim_end()),
            );
        }
        if let Some(sheet) = &scene.sheet {
            let _ = writeln!(
                html,
                "<details class=\"sheet\" open><summary>Contact sheet</summary>\
                 <img class=\"sheet\" src=\"{}\" alt=\"contact sheet of {name}\" loading=\"lazy\"></details>",
                href(sheet)
            );
        }
        html.push_str("</section>\n");
    }
    html.push_str("</div>\n</section>\n");
}

fn changes(html: &mut String, build: &BuildRecord) {
    let _ = writeln!(
        html,
        "<section id=\"changes\">\n<h2>Changes in out/ ({})</h2>",
        build.changes.len()
    );
    if build.changes.is_empty() {
        html.push_str("<p class=\"none\">Nothing changed in out/.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for change in &build.changes {
            let what = escape(&change.change);
            let _ = writeln!(
                html,
                "<li class=\"change change-{what}\" data-change=\"{what}\" data-path=\"{0}\"><code>{0}</code> {what}</li>",
                escape(&change.path),
            );
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</section>\n");
}

fn work(html: &mut String, build: &BuildRecord) {
    let _ = writeln!(
        html,
        "<section id=\"work\">\n<h2>Work</h2>\n<p>{} artifacts reused from the cache (not listed).</p>",
        build.counts.reused
    );
    if build.artifacts.is_empty() {
        html.push_str(
            "<p class=\"none\">Nothing was made: everything was up to date.</p>\n</section>\n",
        );
        return;
    }
    html.push_str(
        "<table>\n<thead><tr><th>artifact</th><th>kind</th><th>status</th><th>started at</th><th>took</th></tr></thead>\n<tbody>\n",
    );
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
    for artifact in rows.iter().take(MAX_ROWS) {
        let status = escape(&artifact.status);
        let _ = writeln!(
            html,
            "<tr class=\"artifact status-{status}\" data-status=\"{status}\"><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
            escape(&artifact.name),
            escape(&artifact.kind),
            artifact.start.map_or_else(|| "—".to_string(), |s| format!("{s:.1} s")),
            if artifact.status == "made" { duration(artifact.seconds) } else { "—".into() },
        );
    }
    html.push_str("</tbody>\n</table>\n");
    if rows.len() > MAX_ROWS {
        let _ = writeln!(
            html,
            "<p class=\"note\">…and {} more (all are in cache/history.jsonl).</p>",
            rows.len() - MAX_ROWS
        );
    }
    html.push_str("</section>\n");
}

/// The GPU lanes as a chart, a bar per call, loads and unloads marked: a row per lane
/// (its device), or with one lane a row per model.
fn lane(html: &mut String, build: &BuildRecord) {
    html.push_str("<section id=\"lane\">\n<h2>GPU lane</h2>\n");
    if build.lane.is_empty() {
        html.push_str("<p class=\"none\">No GPU work in this build.</p>\n</section>\n");
        return;
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
    let _ = writeln!(
        html,
        "<svg class=\"chart\" viewBox=\"0 0 1000 {height}\" role=\"img\" aria-label=\"GPU lane timeline\">"
    );
    for (i, (label, draws)) in rows.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let _ = writeln!(
            html,
            "<text x=\"4\" y=\"{:.1}\" class=\"label\">{}</text>\
             <line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"track\"/>",
            y + 15.0,
            escape(label),
            left + width,
            y + 10.0,
            y + 10.0
        );
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
                    call_bar(html, artifact, start, entry.seconds, y, &x);
                }
                event => {
                    let event = escape(event);
                    let _ = writeln!(
                        html,
                        "<g class=\"mark {event}\"><title>{event} {} at {:.2} s</title>\
                         <line x1=\"{2:.1}\" x2=\"{2:.1}\" y1=\"{3:.1}\" y2=\"{4:.1}\"/></g>",
                        escape(&entry.model),
                        entry.seconds,
                        x(entry.seconds),
                        y,
                        y + 20.0
                    );
                }
            }
        }
        for (artifact, start) in open {
            call_bar(html, artifact, start, end, y, &x);
        }
    }
    let _ = writeln!(
        html,
        "<text x=\"{left}\" y=\"{:.1}\" class=\"axis\">0 s</text>\
         <text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>\n</svg>\n\
         <p class=\"legend\"><span class=\"key call\"></span> a call \
         <span class=\"key load\"></span> model loaded <span class=\"key unload\"></span> unloaded</p>\n</section>",
        height - 4.0,
        left + width,
        height - 4.0,
        duration(end),
    );
}

fn call_bar(
    html: &mut String,
    artifact: &str,
    start: f64,
    end: f64,
    y: f64,
    x: &dyn Fn(f64) -> f64,
) {
    let _ = writeln!(
        html,
        "<rect class=\"call\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" data-artifact=\"{name}\">\
         <title>{name}: {took}</title></rect>",
        x(start),
        y + 2.0,
        (x(end) - x(start)).max(1.0),
        name = escape(artifact),
        took = duration(end - start)
    );
}

/// Build time and failures of the last [`TREND`] builds, a bar each.
fn trend(html: &mut String, earlier: &[BuildRecord], build: &BuildRecord) {
    let skip = earlier.len().saturating_sub(TREND - 1);
    let builds: Vec<&BuildRecord> = earlier[skip..].iter().chain([build]).collect();
    let _ = writeln!(
        html,
        "<section id=\"trend\">\n<h2>The last {} build{}</h2>",
        builds.len(),
        if builds.len() == 1 { "" } else { "s" }
    );
    let longest = (builds.iter().map(|b| b.seconds())).fold(0.001, f64::max);
    let (top, height, step) = (20.0, 120.0, 960.0 / TREND as f64);
    let _ = writeln!(
        html,
        "<svg class=\"chart\" viewBox=\"0 0 1000 170\" role=\"img\" aria-label=\"build time and failures\">\
         <text x=\"4\" y=\"14\" class=\"axis\">{}</text><line x1=\"36\" x2=\"1000\" y1=\"{top}\" y2=\"{top}\" class=\"track\"/>",
        duration(longest)
    );
    for (i, b) in builds.iter().enumerate() {
        let seconds = b.seconds();
        let bar = (seconds / longest * height).max(1.0);
        let x = 40.0 + step * i as f64;
        let failed = b.counts.failed;
        let class = if failed > 0 || b.exit != 0 {
            "build failed"
        } else {
            "build"
        };
        let _ = writeln!(
            html,
            "<g class=\"trend-build\" data-seconds=\"{seconds:.3}\" data-failed=\"{failed}\">\
             <title>{} UTC: {}, {failed} failed, exit {}</title>\
             <rect class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\"/>{}</g>",
            history::utc(b.started),
            duration(seconds),
            b.exit,
            top + height - bar,
            step * 0.7,
            if failed > 0 {
                format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" class=\"failures\" text-anchor=\"middle\">{failed}✗</text>",
                    x + step * 0.35,
                    top + height + 16.0
                )
            } else {
                String::new()
            },
        );
    }
    html.push_str(
        "</svg>\n<p class=\"legend\"><span class=\"key build\"></span> build time \
         <span class=\"key failed\"></span> a build with failures (their count below), oldest on the left</p>\n</section>\n",
    );
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

/// Text made safe for HTML, in an element or in a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
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
            escape(r#"<a href="x">'&'</a>"#),
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
    fn the_verdict_says_how_the_build_ended() {
        let mut stopped = build(false);
        stopped.exit = 130;
        assert!(verdict(&stopped).starts_with("The build was interrupted (Ctrl-C) in 30.5 s"));
        assert!(verdict(&build(true)).starts_with(
            "The build failed (exit code 1) in 30.5 s: 2 made, 5 reused, 1 failed, 1 skipped"
        ));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.421), "0.42 s");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
