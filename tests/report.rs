//! The build report, `out/report.html`, as a person sees it: a real browser (Debian's
//! headless Chromium) loads the page a build with one failing scene wrote, and the test
//! reads the DOM the browser built — every declared scene with its poster, the failure with
//! its message, the changed outputs — and saves a screenshot for CI. A project with an
//! episode shows it before its scenes: its poster loaded, its duration and parts in order.
//!
//! Chromium is required (`tools/setup` installs it); without it these tests fail, unless
//! `RENDER_SKIP_BROWSER_TESTS=1` says to skip them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::devtools::{chromium, headless};
use common::{ffmpeg, tone_wav, video_frames, which, write_program, Folder};

/// A folder whose speech comes from a fake program that fails on a line containing
/// `FAIL`, with the end of a log holding markup (which the page must show as text).
fn folder(scenes: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.2\nvoice = \"ada\"\navatar = \"astronaut\"\n\n\
         [engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\nargs = [\"{engine_dir}\", \"{text}\", \"{out}\"]\ntimeout = 30\n\n\
         [voices.ada]\nengine = \"fake\"\n\n[voices.bob]\nengine = \"espeak\"\nlanguage = \"en-gb\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    folder.write("projects/demo/project.toml", scenes);
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.6)).unwrap();
    write_program(
        &folder.file("fake"),
        "#!/bin/sh\ncase \"$2\" in *FAIL*)\n  echo loading weights >&2\n  echo 'RuntimeError: <CUDA> out of memory & more' >&2\n  exit 3;;\nesac\ncp \"$1/tone.wav\" \"$3\"\n",
    );
    folder
}

const SCENES: &str =
    "[[scene]]\nname = \"intro\"\nlines = [\"Hello there.\", \"Welcome back.\"]\n\n\
    [[scene]]\nname = \"broken\"\nlines = [\"This one works today.\"]\n\n\
    [[scene]]\nname = \"old\"\nlines = [\"Soon gone.\"]\n";

#[test]
fn a_build_with_a_failing_scene_writes_a_report_that_a_browser_shows() {
    let Some(chromium) = chromium() else { return };
    let folder = folder(SCENES);
    folder.build();
    // The next night: intro edited, old deleted, broken now fails.
    folder.write(
        "projects/demo/project.toml",
        &SCENES
            .replace("Welcome back.", "Welcome back, everyone.")
            .replace("This one works today.", "This one FAILs today.")
            .replace("[[scene]]\nname = \"old\"\nlines = [\"Soon gone.\"]\n", ""),
    );
    let run = folder.render(&["build", "--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let page = folder.file("out/report.html");
    assert!(page.is_file(), "no report: {}", run.stderr);

    let dom = Dom(browse(&chromium, &page, &["--dump-dom"]).0);
    // Every declared scene, each with a poster the browser can load: broken shows the one
    // its last good build published.
    let scenes = dom.elements("section", "class", "scene");
    let names: Vec<&str> = scenes.iter().map(|s| s.attr("data-scene")).collect();
    assert_eq!(names, ["demo/intro", "demo/broken"]);
    for scene in &scenes {
        let posters = Dom(scene.inner.clone()).elements("img", "class", "poster");
        assert_eq!(posters.len(), 1, "{}: no poster", scene.attr("data-scene"));
        let poster = folder.file("out").join(posters[0].attr("src"));
        let bytes = std::fs::read(&poster).unwrap_or_else(|e| panic!("{}: {e}", poster.display()));
        assert!(
            bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            "{} is not a JPEG",
            poster.display()
        );
        let sheets = Dom(scene.inner.clone()).elements("img", "class", "sheet");
        assert!(folder.file("out").join(sheets[0].attr("src")).is_file());
    }
    let (intro, broken) = (&scenes[0], &scenes[1]);
    assert_eq!(broken.attr("data-status"), "skipped");
    assert!(
        broken.text().contains("from an earlier build"),
        "{}",
        broken.text()
    );
    assert_eq!(intro.attr("data-status"), "made");
    let duration = Dom(intro.inner.clone()).elements("span", "class", "duration");
    let seconds: f64 = duration[0].attr("data-seconds").parse().unwrap();
    assert!(seconds > 1.0, "{seconds}");

    // The failure, with its message and the end of its log, as text (not markup).
    let failures = dom.elements("article", "class", "failure");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].attr("data-artifact"), "speech demo/broken:1");
    let message = failures[0].text();
    assert!(message.contains("exit status: 3"), "{message}");
    assert!(
        message.contains("RuntimeError: <CUDA> out of memory & more"),
        "{message}"
    );
    assert!(broken.text().contains("RuntimeError: <CUDA> out of memory"));

    // What changed in out/: intro's five files remade, old's five removed.
    let changes: Vec<(String, String)> = (dom.elements("li", "class", "change").iter())
        .map(|li| {
            (
                li.attr("data-path").to_string(),
                li.attr("data-change").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("out/demo/intro.mp4", "updated"),
        ("out/demo/intro.jpg", "updated"),
        ("out/demo/intro.sheet.jpg", "updated"),
        ("out/demo/intro.srt", "updated"),
        ("out/demo/intro.vtt", "updated"),
        ("out/demo/old.jpg", "removed"),
        ("out/demo/old.mp4", "removed"),
        ("out/demo/old.sheet.jpg", "removed"),
        ("out/demo/old.srt", "removed"),
        ("out/demo/old.vtt", "removed"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), c.to_string()))
    .collect();
    assert_eq!(changes, expected);
    let counts: BTreeMap<String, String> = (dom.elements("div", "class", "count").iter())
        .map(|c| (c.attr("data-count").to_string(), c.text()))
        .collect();
    assert_eq!(counts["failed"], "failed1");
    assert_eq!(counts["made"], "made4");
    // The trend holds both builds, the second with its failure.
    let trend = dom.elements("g", "class", "trend-build");
    let failed: Vec<&str> = trend.iter().map(|g| g.attr("data-failed")).collect();
    assert_eq!(failed, ["0", "1"]);

    // The screenshot, kept where CI collects artifacts.
    let shot = target_dir().join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let flag = format!("--screenshot={}", shot.display());
    browse(&chromium, &page, &[&flag, "--window-size=1200,2000"]);
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        shot.display()
    );
    println!("report screenshot: {}", shot.display());
    eprintln!("report screenshot: {}", shot.display());
}

#[test]
fn render_report_rewrites_the_page_from_the_last_build() {
    let folder = folder(
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello there.\", { text = \"Hi.\", voice = \"bob\" }]\n",
    );
    let none = folder.render(&["report"]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(
        none.stderr
            .contains("no build is recorded in cache/history.jsonl yet"),
        "{}",
        none.stderr
    );

    // Every espeak-ng run is logged: the build asks for its voices, the report must not
    // (it reads the facts the build remembered; a no-op build starts no program either).
    let log = folder.file("espeak-ng.log");
    let real = which("espeak-ng").expect("espeak-ng on PATH");
    std::fs::create_dir_all(folder.file("bin")).unwrap();
    write_program(
        &folder.file("bin/espeak-ng"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    let path = std::env::join_paths(
        std::iter::once(folder.file("bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let render =
        |args: &[&str]| folder.render_with_env(args, &[("PATH", path)], Duration::from_secs(300));
    let build = render(&["build"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(folder.read("espeak-ng.log").contains("--voices"));
    std::fs::remove_file(&log).unwrap();

    let page = folder.file("out/report.html");
    let built = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    let run = render(&["report"]);
    assert!(!log.exists(), "render report started espeak-ng");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (0, "render: wrote out/report.html\n")
    );
    // The same page, from the same record (the build's own and the command's).
    assert_eq!(std::fs::read_to_string(&page).unwrap(), built);

    // A no-op build leaves the page on the last build that did something (the morning's
    // report of the night's work survives the first `render build` of the day), and
    // `render report` after it makes that same page; the no-op is in the history.
    let modified = std::fs::metadata(&page).unwrap().modified().unwrap();
    assert_eq!(render(&["build"]).code, 0);
    assert!(!log.exists(), "a no-op build started espeak-ng");
    assert_eq!(std::fs::read_to_string(&page).unwrap(), built);
    assert_eq!(
        std::fs::metadata(&page).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(render(&["report"]).code, 0);
    assert_eq!(std::fs::read_to_string(&page).unwrap(), built);
    let history = folder.read("cache/history.jsonl");
    assert_eq!(history.lines().count(), 2, "{history}");

    // Missing, the page is written by a no-op too: from the build that did something.
    std::fs::remove_file(&page).unwrap();
    assert_eq!(render(&["build"]).code, 0);
    assert_eq!(std::fs::read_to_string(&page).unwrap(), built);

    // An edit makes one line again: the page shows that build, and the earlier ones.
    folder.edit("projects/demo/project.toml", "Hello there.", "Hello again.");
    assert_eq!(render(&["build"]).code, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("data-scene=\"demo/intro\" data-status=\"made\""),
        "{html}"
    );
    assert!(html.contains("<img class=\"poster\" src=\"demo/intro.jpg\""));
    assert!(html.contains("The last 4 builds"), "{html}");
}

#[test]
fn a_project_with_an_episode_shows_it_before_its_scenes() {
    let Some(chromium) = chromium() else { return };
    // Small frames and espeak, as tests/episode.rs: two scenes, an intro, the scenes in
    // another order than declared.
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = 12\n\
         voice = \"narrator\"\navatar = \"astronaut\"\n\n[voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"hello\"\nlines = [\"Hello there.\"]\n\n\
         [[scene]]\nname = \"bye\"\nlines = [\"Goodbye.\"]\n\n\
         [episode]\nscenes = [\"bye\", \"hello\"]\nintro = \"media/intro.mp4\"\n",
    );
    std::fs::create_dir_all(folder.file("media")).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x90:rate=12:duration=1",
        "-c:v",
        "libx264",
        folder.file("media/intro.mp4").to_str().unwrap(),
    ]);
    folder.build();
    let page = folder.file("out/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page needs no script");
    // A copy of the page with a probe that records, once the page has loaded, how wide
    // each image decoded (0 for one the browser could not load).
    let probe = folder.file("out/report-probe.html");
    std::fs::write(
        &probe,
        html.replace(
            "</body>",
            "<script>addEventListener('load', () => { for (const img of document.images) \
             img.setAttribute('data-natural-width', img.naturalWidth) })</script></body>",
        ),
    )
    .unwrap();
    let dom = Dom(browse(
        &chromium,
        &probe,
        &["--virtual-time-budget=5000", "--dump-dom"],
    )
    .0);

    let episodes = dom.elements("section", "class", "episode");
    assert_eq!(episodes.len(), 1, "{}", dom.0);
    let episode = &episodes[0];
    assert_eq!(episode.attr("data-episode"), "talks");
    assert_eq!(episode.attr("data-status"), "made");
    // Before the scenes.
    let at = |needle: &str| dom.0.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at("data-episode=\"talks\"") < at("data-scene=\"talks/hello\""));
    // Its poster, loaded, linked to its video.
    let inner = Dom(episode.inner.clone());
    let posters = inner.elements("img", "class", "poster");
    assert_eq!(posters.len(), 1);
    assert_eq!(posters[0].attr("src"), "talks.jpg");
    let width: u32 = posters[0].attr("data-natural-width").parse().unwrap();
    assert!(width > 0, "the browser did not load the episode's poster");
    let play = inner.elements("a", "class", "play");
    assert_eq!(play[0].attr("href"), "talks.mp4");
    assert!(folder.file("out/talks.mp4").is_file());
    // Its duration: the video's frames at 12 fps, as text.
    let duration = &inner.elements("span", "class", "duration")[0];
    let seconds: f64 = duration.attr("data-seconds").parse().unwrap();
    let frames = video_frames(&folder.file("out/talks.mp4"));
    assert!(
        (seconds - frames as f64 / 12.0).abs() < 1e-3,
        "{seconds} s for {frames} frames"
    );
    assert_eq!(duration.text(), format!("{seconds:.2} s"));
    // Its parts in order, each with its length; they add up to the whole.
    let parts = inner.elements("li", "class", "part");
    let names: Vec<&str> = parts.iter().map(|p| p.attr("data-part")).collect();
    assert_eq!(names, ["intro", "bye", "hello"]);
    let lengths: Vec<f64> = (parts.iter())
        .map(|p| p.attr("data-seconds").parse().unwrap())
        .collect();
    assert!((lengths[0] - 1.0).abs() < 1e-3, "{lengths:?}");
    assert!(
        (lengths.iter().sum::<f64>() - seconds).abs() < 1e-2,
        "{lengths:?}"
    );
    assert!(parts[1].text().starts_with("bye "), "{}", parts[1].text());
    // Its captions, linked.
    let captions = &inner.elements("p", "class", "captions")[0];
    assert_eq!(captions.text(), "Captions: talks.srt · talks.vtt");
    let links = ["talks.srt", "talks.vtt"];
    for link in links {
        assert_eq!(
            inner.elements("a", "href", link).len(),
            1,
            "no link to {link}"
        );
        assert!(folder.file("out").join(link).is_file(), "{link}");
    }
    // The scenes are still shown, each with its poster.
    let scenes = dom.elements("section", "class", "scene");
    let names: Vec<&str> = scenes.iter().map(|s| s.attr("data-scene")).collect();
    assert_eq!(names, ["talks/hello", "talks/bye"]);
}

/// Runs headless Chromium on `page` with `flags`; returns its stdout and stderr. It gets
/// its own profile folder (tests run in parallel) and a minute.
fn browse(chromium: &Path, page: &Path, flags: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = headless(chromium, profile.path())
        .args(flags)
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium still running after a minute; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "chromium failed: {stderr}");
    (stdout, stderr)
}

/// The target folder (CI keeps what is written there).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The DOM as Chromium serialises it (`--dump-dom`): attributes double-quoted, text
/// escaped. Enough of a reader for the elements this test looks for.
struct Dom(String);

struct Element {
    attrs: BTreeMap<String, String>,
    /// Everything between its start tag and its matching end tag.
    inner: String,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .map_or_else(|| panic!("no {name} in {:?}", self.attrs), String::as_str)
    }

    /// Its text, tags dropped and entities decoded.
    fn text(&self) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in self.inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        unescape(&text)
    }
}

impl Dom {
    /// Every `<tag>` whose attribute `attr` is `value` (for `class`: has class `value`), in
    /// document order.
    fn elements(&self, tag: &str, attr: &str, value: &str) -> Vec<Element> {
        let html = &self.0;
        let open = format!("<{tag}");
        let mut found = Vec::new();
        let mut at = 0;
        while let Some(offset) = html[at..].find(&open) {
            let start = at + offset;
            at = start + open.len();
            if !html[at..].starts_with([' ', '>']) {
                continue;
            }
            let end = start + html[start..].find('>').unwrap();
            let attrs = attributes(&html[start + open.len()..end]);
            let matches = match attrs.get(attr) {
                // A class is one of the attribute's words.
                Some(have) if attr == "class" => have.split_whitespace().any(|c| c == value),
                Some(have) => have == value,
                None => false,
            };
            if !matches {
                continue;
            }
            let inner_start = end + 1;
            let inner = match matching_end(&html[inner_start..], tag) {
                Some(len) => html[inner_start..inner_start + len].to_string(),
                None => String::new(),
            };
            found.push(Element { attrs, inner });
        }
        found
    }
}

/// The length of the text before the end tag matching an open `<tag>` (nested ones counted).
fn matching_end(html: &str, tag: &str) -> Option<usize> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut depth = 1;
    let mut at = 0;
    loop {
        let next_close = html[at..].find(&close)? + at;
        let next_open = html[at..]
            .match_indices(&open)
            .map(|(i, _)| i + at)
            .find(|&i| html[i + open.len()..].starts_with([' ', '>']));
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                at = o + open.len();
            }
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Some(next_close);
                }
                at = next_close + close.len();
            }
        }
    }
}

/// `a="1" b="x y"` → {a: 1, b: x y}, values decoded.
fn attributes(text: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        rest = &rest[name_end..];
        if let Some(value) = rest.strip_prefix("=\"") {
            let close = value.find('"').unwrap();
            attrs.insert(name, unescape(&value[..close]));
            rest = value[close + 1..].trim_start();
        } else {
            attrs.insert(name, String::new());
            rest = rest.trim_start();
        }
    }
    attrs
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}
