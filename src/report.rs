//! What a build tells its user: a progress bar on a terminal, one plain line per artifact
//! otherwise (logs of nightly runs stay readable) and, every `progress_every()`, a line
//! with the scenes and artifacts made and the time left, a line for a job that seems stuck, a
//! summary line, and `--json`. What Ctrl-C stopped is "cancelled", never "failed": the
//! user stopped it, nothing is wrong with it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use serde::Serialize;

use crate::error::Result;
use crate::files::write_atomically;
use crate::scheduler::Outcome;

/// A job the build is to make, as progress counts it.
pub struct Task {
    /// Its artifact kind (`speech`, `clip`, …), the key of the time estimates.
    pub kind: String,
    /// Its model call runs on the GPU lane, one at a time.
    pub on_lane: bool,
    /// It is a scene (a video).
    pub scene: bool,
}

/// Progress: a bar on a terminal (with `scenes d/t` and the time left), else a plain line
/// per artifact and, on each `tick`, a line with the counts and the time left.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// What the bar's line shows besides indicatif's counts: the prefix (`scenes 7/20, …`)
    /// and the job last started, read by the line's key on each draw.
    shown: Arc<Mutex<(String, String)>>,
    left: Left,
}

impl Progress {
    /// `tasks`: per node, what it is if the build makes it; `jobs`: CPU jobs at once;
    /// `seconds_by_kind`: the history's mean seconds per artifact kind.
    pub fn new(
        tasks: &[Option<Task>],
        jobs: usize,
        seconds_by_kind: BTreeMap<String, f64>,
    ) -> Progress {
        let left = Left::new(tasks, jobs, seconds_by_kind);
        let shown = Arc::new(Mutex::new((left.bar_prefix(), String::new())));
        let bar = (std::io::stderr().is_terminal() && left.total > 0).then(|| {
            let bar = ProgressBar::new(left.total as u64);
            let line = Arc::clone(&shown);
            let style = ProgressStyle::with_template("{spinner} {line}")
                .expect("template parses")
                .with_key("line", move |state: &ProgressState, out: &mut dyn Write| {
                    let (prefix, name) = &*line.lock().unwrap_or_else(|e| e.into_inner());
                    // The spinner and its space take two columns.
                    let width = terminal_width().saturating_sub(2);
                    let (pos, len) = (state.pos(), state.len().unwrap_or(0));
                    let text = bar_line(width, state.elapsed(), pos, len, prefix, name);
                    let _ = out.write_str(&text);
                });
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar, shown, left }
    }

    /// Sets what the bar's line shows: the prefix, and the job's name when given.
    fn show(&self, name: Option<&str>) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        shown.0 = self.left.bar_prefix();
        if let Some(name) = name {
            shown.1 = name.to_string();
        }
    }

    pub fn started(&self, name: &str) {
        if let Some(bar) = &self.bar {
            self.show(Some(name));
            bar.tick();
        }
    }

    /// Node `i`, named `name`, ended with `outcome`.
    pub fn finished(&mut self, i: usize, name: &str, outcome: &Outcome) {
        self.left.finished(i, outcome);
        let line = match outcome {
            Outcome::Made { seconds } => format!("made {name} ({seconds:.2} s)"),
            Outcome::Failed(_) => format!("FAILED {name}"),
            Outcome::Cancelled => format!("cancelled {name}"),
            Outcome::Skipped => format!("skipped {name} (an input failed)"),
            Outcome::NotStarted => return,
        };
        match &self.bar {
            Some(bar) => {
                self.show(None);
                bar.inc(1);
                if !matches!(outcome, Outcome::Made { .. }) {
                    bar.println(line);
                }
            }
            None => eprintln!("{line}"),
        }
    }

    /// Time passed (`scheduler::Event::Tick`): a plain log gets the progress line.
    pub fn tick(&self) {
        match &self.bar {
            Some(bar) => {
                self.show(None);
                bar.tick();
            }
            None => eprintln!("{}", self.left.line()),
        }
    }

    /// A job still at work after `running` without progress, e.g.
    /// `render: still running after 30 s: speech demo/intro:2`.
    pub fn stalled(&self, name: &str, running: Duration) {
        let seconds = running.as_secs_f64();
        let seconds = if seconds.fract() == 0.0 {
            format!("{seconds}")
        } else {
            format!("{seconds:.1}")
        };
        self.println(&format!(
            "render: still running after {seconds} s: {name}\n"
        ));
    }

    /// Prints above the bar, or plainly.
    pub fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprint!("{text}")),
            None => eprint!("{text}"),
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What is left of a build, and how long it should take. Each job still to finish counts
/// its kind's mean seconds — from the history, else from this build's own jobs so far,
/// else this build's mean over all kinds — whole, even while it runs. The jobs' sum is
/// spread over the `jobs` CPU jobs at once, but the lane's jobs run one at a time, so the
/// time left is the longer of the two: `max(all / jobs, lane)`. Rough, and meant to be.
struct Left {
    /// Per node to make, its index in `kinds`.
    kind_of: Vec<Option<u8>>,
    kinds: Vec<Kind>,
    jobs: usize,
    total: usize,
    made: usize,
    scenes: usize,
    scenes_made: usize,
}

struct Kind {
    /// The history's mean seconds for this kind.
    known: Option<f64>,
    on_lane: bool,
    scene: bool,
    /// Jobs not yet finished.
    left: usize,
    /// Made in this build, and their seconds.
    made: usize,
    seconds: f64,
}

impl Left {
    fn new(tasks: &[Option<Task>], jobs: usize, known: BTreeMap<String, f64>) -> Left {
        let mut index: BTreeMap<(&str, bool, bool), u8> = BTreeMap::new();
        let mut kinds: Vec<Kind> = Vec::new();
        let mut kind_of = Vec::with_capacity(tasks.len());
        for task in tasks {
            kind_of.push(task.as_ref().map(|task| {
                let k = *index
                    .entry((&task.kind, task.on_lane, task.scene))
                    .or_insert_with(|| {
                        kinds.push(Kind {
                            known: known.get(&task.kind).copied(),
                            on_lane: task.on_lane,
                            scene: task.scene,
                            left: 0,
                            made: 0,
                            seconds: 0.0,
                        });
                        u8::try_from(kinds.len() - 1).expect("a few kinds of artifact")
                    });
                kinds[usize::from(k)].left += 1;
                k
            }));
        }
        let total = kinds.iter().map(|k| k.left).sum();
        let scenes = kinds.iter().filter(|k| k.scene).map(|k| k.left).sum();
        Left {
            kind_of,
            kinds,
            jobs: jobs.max(1),
            total,
            made: 0,
            scenes,
            scenes_made: 0,
        }
    }

    fn finished(&mut self, i: usize, outcome: &Outcome) {
        let Some(kind) = self.kind_of.get(i).copied().flatten() else {
            return;
        };
        let kind = &mut self.kinds[usize::from(kind)];
        kind.left = kind.left.saturating_sub(1);
        if let Outcome::Made { seconds } = outcome {
            kind.made += 1;
            kind.seconds += seconds;
            self.made += 1;
            self.scenes_made += usize::from(kind.scene);
        }
    }

    /// The time left, or None while some kind still to make has no estimate.
    fn estimate(&self) -> Option<Duration> {
        let made: usize = self.kinds.iter().map(|k| k.made).sum();
        let seconds: f64 = self.kinds.iter().map(|k| k.seconds).sum();
        let overall = (made > 0).then(|| seconds / made as f64);
        let (mut all, mut lane) = (0.0, 0.0);
        for kind in self.kinds.iter().filter(|k| k.left > 0) {
            let own = (kind.made > 0).then(|| kind.seconds / kind.made as f64);
            let mean = kind.known.or(own).or(overall)?;
            all += mean * kind.left as f64;
            if kind.on_lane {
                lane += mean * kind.left as f64;
            }
        }
        let left = (all / self.jobs as f64).max(lane);
        Some(Duration::from_secs_f64(left.max(0.0)))
    }

    /// `render: 7/20 scenes, 61/200 artifacts made, about 3 min 10 s left`
    fn line(&self) -> String {
        let left = match self.estimate() {
            Some(left) => format!("about {} left", duration(left)),
            None => "time left not yet known".to_string(),
        };
        format!(
            "render: {}/{} scenes, {}/{} artifacts made, {left}",
            self.scenes_made, self.scenes, self.made, self.total
        )
    }

    /// `scenes 7/20, about 3 min 10 s left`
    fn bar_prefix(&self) -> String {
        let mut prefix = format!("scenes {}/{}", self.scenes_made, self.scenes);
        if let Some(left) = self.estimate() {
            prefix.push_str(&format!(", about {} left", duration(left)));
        }
        prefix
    }
}

/// The columns of the terminal on stderr (80 when it cannot be told).
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ writes only into `size`, which outlives the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// The widest the bar itself gets, and the narrowest before it is left out.
const BAR_WIDTH: usize = 30;
const MIN_BAR_WIDTH: usize = 10;
/// A job's name is not cut below this many characters while the bar can give room.
const MIN_NAME: usize = 16;

/// The progress bar's line (after the spinner), at most `width` columns: `[00:01:02]
/// ████░░░ 12/40 scenes 1/4, about 2 min left speech demo/intro:3`. Fitting a narrow
/// terminal, the bar shrinks first (down to 10), then the job's name loses its middle to
/// an ellipsis (its kind and its scene and line number stay), then the bar goes; a line
/// that still does not fit is cut with an ellipsis. (indicatif would cut the line at the
/// terminal's edge, the job's name first: at 80 columns, nothing of it showed.)
fn bar_line(
    width: usize,
    elapsed: Duration,
    pos: u64,
    len: u64,
    prefix: &str,
    name: &str,
) -> String {
    let seconds = elapsed.as_secs();
    let clock = format!(
        "[{:02}:{:02}:{:02}]",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    let head = format!("{clock} ");
    // The count as wide as the total, so the bar keeps its width as it counts up.
    let digits = len.to_string().len();
    let counts = format!("{pos:>digits$}/{len} {prefix}");
    let fixed = chars(&head) + chars(&counts);
    let name_len = chars(name);
    // Room for the bar, the job's name and the two spaces before them.
    let room = width.saturating_sub(fixed);
    // After the bar (and its space, when it shows): a space and the name.
    let name_room = |bar: usize| room.saturating_sub(if bar > 0 { bar + 1 } else { 0 } + 1);
    let bar = if room >= BAR_WIDTH + 2 + name_len {
        BAR_WIDTH
    } else if room >= MIN_BAR_WIDTH + 2 + name_len.min(MIN_NAME) {
        room.saturating_sub(2 + name_len)
            .clamp(MIN_BAR_WIDTH, BAR_WIDTH)
    } else {
        0
    };
    let filled = if len == 0 {
        0
    } else {
        (pos.min(len) as usize * bar) / len as usize
    };
    let drawn = "█".repeat(filled) + &"░".repeat(bar - filled);
    let line = match bar {
        0 => format!("{head}{counts}"),
        _ => format!("{head}{drawn} {counts}"),
    };
    let line = if name.is_empty() {
        line
    } else {
        let room = name_room(bar).max(1);
        format!("{line} {}", shorten(name, room))
    };
    if chars(&line) <= width {
        line
    } else {
        shorten_end(&line, width)
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` in at most `room` characters, its middle replaced by `…` when it is longer.
fn shorten(text: &str, room: usize) -> String {
    let count = chars(text);
    if count <= room {
        return text.to_string();
    }
    if room <= 1 {
        return "…".chars().take(room).collect();
    }
    let keep = room - 1;
    let (start, end) = (keep - keep / 2, keep / 2);
    let head: String = text.chars().take(start).collect();
    let tail: String = text.chars().skip(count - end).collect();
    format!("{head}…{tail}")
}

/// `text` in at most `room` characters, its end replaced by `…` when it is longer.
fn shorten_end(text: &str, room: usize) -> String {
    if chars(text) <= room {
        return text.to_string();
    }
    let head: String = text.chars().take(room.saturating_sub(1)).collect();
    if room == 0 {
        head
    } else {
        head + "…"
    }
}

/// `45 s`, `3 min 10 s`, `2 h 5 min`: whole units, as precise as an estimate deserves.
fn duration(time: Duration) -> String {
    let seconds = time.as_secs_f64().round() as u64;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

#[derive(Debug, Serialize)]
pub struct ArtifactReport {
    pub name: String,
    pub kind: String,
    pub key: String,
    /// made | reused | failed | cancelled | skipped | not-started
    pub status: &'static str,
    /// When it started, seconds from the build's start (absent: it did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    pub seconds: f64,
    /// The scene variants (`project/scene@variant`) that read it, when its scene has some
    /// (`graph::Node::variants`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub made: usize,
    pub reused: usize,
    pub failed: usize,
    /// Stopped by Ctrl-C while they ran.
    pub cancelled: usize,
    /// Skipped because an input failed.
    pub skipped: usize,
    /// Not started because the build stopped (Ctrl-C, or a failure without --keep-going).
    pub not_started: usize,
    pub published: usize,
    pub seconds: f64,
    pub artifacts: Vec<ArtifactReport>,
    /// Each scene variant: its video, object and build time (`variants.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<crate::variants::SceneVariant>,
    /// The GPU lane's own record: every model load and unload, every job's start and end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu_lane: Vec<crate::lanes::LaneEvent>,
}

impl Summary {
    pub fn add(&mut self, report: ArtifactReport) {
        match report.status {
            "made" => self.made += 1,
            "reused" => self.reused += 1,
            "failed" => self.failed += 1,
            "cancelled" => self.cancelled += 1,
            "not-started" => self.not_started += 1,
            _ => self.skipped += 1,
        }
        self.artifacts.push(report);
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "render: made {}, reused {}, failed {}",
            self.made, self.reused, self.failed
        );
        for (count, what) in [
            (self.cancelled, "cancelled"),
            (self.skipped, "skipped"),
            (self.not_started, "not started"),
        ] {
            if count > 0 {
                line.push_str(&format!(", {what} {count}"));
            }
        }
        line.push_str(&format!(" in {:.2} s", self.seconds));
        line
    }

    /// Writes the summary as JSON to `path`, or to standard output when it is `-`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("summary serialises");
        if path == Path::new("-") {
            use std::io::Write;
            json.push(b'\n');
            let mut stdout = std::io::stdout().lock();
            return stdout
                .write_all(&json)
                .and_then(|()| stdout.flush())
                .map_err(|e| crate::error::Error::io("cannot write", "standard output", e));
        }
        write_atomically(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(status: &'static str) -> ArtifactReport {
        ArtifactReport {
            name: String::new(),
            kind: String::new(),
            key: String::new(),
            status,
            start: None,
            seconds: 0.0,
            variants: Vec::new(),
        }
    }

    fn task(kind: &str, on_lane: bool, scene: bool) -> Option<Task> {
        Some(Task {
            kind: kind.to_string(),
            on_lane,
            scene,
        })
    }

    #[test]
    fn the_time_left_spreads_cpu_work_over_the_jobs_but_not_the_lanes() {
        // Four speeches (2 s each in the history), two clips on the lane (10 s), a scene.
        let tasks = [
            task("speech", false, false),
            task("speech", false, false),
            task("speech", false, false),
            task("speech", false, false),
            None,
            task("clip", true, false),
            task("clip", true, false),
            task("scene", false, true),
        ];
        let known = BTreeMap::from([("speech".to_string(), 2.0), ("clip".to_string(), 10.0)]);
        let mut left = Left::new(&tasks, 4, known);
        // No time known for a scene yet, nor any made in this build.
        assert_eq!(
            left.line(),
            "render: 0/1 scenes, 0/7 artifacts made, time left not yet known"
        );
        left.finished(0, &Outcome::Made { seconds: 3.0 });
        // The scene takes this build's mean so far (3 s): (3×2 + 2×10 + 3) / 4 jobs is
        // 7.25 s, but the lane's 20 s are one after another.
        assert_eq!(
            left.line(),
            "render: 0/1 scenes, 1/7 artifacts made, about 20 s left"
        );
        for i in [1, 2, 3, 5, 6] {
            left.finished(i, &Outcome::Made { seconds: 100.0 });
        }
        left.finished(
            7,
            &Outcome::Failed(crate::error::Error::Other("boom".into())),
        );
        assert_eq!(
            left.line(),
            "render: 0/1 scenes, 6/7 artifacts made, about 0 s left"
        );
        assert_eq!(left.bar_prefix(), "scenes 0/1, about 0 s left");
    }

    #[test]
    fn the_bar_line_fits_the_terminal_and_shortens_the_job_name_in_its_middle() {
        let prefix = "scenes 0/2, about 1 min 5 s left";
        let name = "clip demo/a-long-scene-name-for-a-test:12";
        let at = |width| bar_line(width, Duration::from_secs(75), 12, 40, prefix, name);
        // Wide: the whole bar (30) and the whole name.
        let wide = at(160);
        assert_eq!(
            wide,
            format!(
                "[00:01:15] {}{} 12/40 {prefix} {name}",
                "█".repeat(9),
                "░".repeat(21)
            )
        );
        // 80 columns less the spinner: the bar shrinks to 10, the name keeps its ends.
        let narrow = at(78);
        assert_eq!(
            narrow,
            format!(
                "[00:01:15] {}{} 12/40 {prefix} clip dem…-test:12",
                "█".repeat(3),
                "░".repeat(7)
            )
        );
        assert_eq!(narrow.chars().count(), 78);
        // Narrower still: the bar goes before the name is cut below 16 characters.
        let no_bar = at(70);
        assert!(!no_bar.contains('█') && !no_bar.contains('░'), "{no_bar}");
        assert!(no_bar.ends_with("test:12"), "{no_bar}");
        assert!(no_bar.chars().count() <= 70, "{no_bar}");
        // Tiny: cut at the end, never wider than the terminal.
        assert_eq!(at(20), "[00:01:15] 12/40 sc…");
        // No job yet.
        assert_eq!(
            bar_line(78, Duration::ZERO, 0, 4, "scenes 0/1", ""),
            format!("[00:00:00] {} 0/4 scenes 0/1", "░".repeat(30))
        );
    }

    #[test]
    fn durations_are_as_precise_as_an_estimate_deserves() {
        let text = |s: u64| duration(Duration::from_secs(s));
        assert_eq!(text(45), "45 s");
        assert_eq!(text(190), "3 min 10 s");
        assert_eq!(text(7_500), "2 h 5 min");
    }

    #[test]
    fn what_ctrl_c_stopped_is_counted_apart_from_failures() {
        let mut summary = Summary::default();
        for status in ["made", "cancelled", "cancelled", "not-started", "reused"] {
            summary.add(artifact(status));
        }
        assert_eq!(
            summary.line(),
            "render: made 1, reused 1, failed 0, cancelled 2, not started 1 in 0.00 s"
        );
        summary.add(artifact("skipped"));
        assert!(summary
            .line()
            .contains(", cancelled 2, skipped 1, not started 1 "));
    }
}
