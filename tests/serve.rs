//! `render serve`: the JSON API over a real socket (scenes, builds, the event stream, a
//! build's summary identical to `--json`'s, cancel, 409), media with range requests and
//! nothing outside `out/` and the cache's objects, and who may do what when bound beyond
//! this machine.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::background::Background;
use common::http::{self, Events};
use common::{tone_wav, Folder};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// `render serve --port 0` on the folder, with `args`; its port.
fn serve(folder: &Folder, args: &[&str]) -> (Background, u16) {
    Background::serve(folder, args, LIMIT)
}

fn names(artifacts: &Value, status: Option<&str>) -> BTreeSet<String> {
    (artifacts.as_array().unwrap().iter())
        .filter(|a| status.is_none_or(|s| a["status"] == s))
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_api_shows_scenes_and_builds_and_streams_a_build_whose_summary_is_the_json_one() {
    let folder = Folder::tiny();
    let (_server, port) = serve(&folder, &[]);

    // Before any build: one scene, stale because it is new, nothing published.
    let scenes = http::get(port, "/api/scenes");
    assert_eq!(scenes.status, 200);
    assert_eq!(scenes.header("content-type"), Some("application/json"));
    let scenes = scenes.json();
    assert_eq!(scenes["errors"], serde_json::json!([]));
    let scene = &scenes["scenes"][0];
    assert_eq!(scenes["scenes"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&scene["project"], &scene["name"]),
        (&"p".into(), &"talk".into())
    );
    assert_eq!(scene["status"], "stale");
    assert_eq!(scene["why"], "new");
    assert_eq!(scene["video"], Value::Null);
    let lines = scene["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["text"], "Four five six.");
    assert_eq!(lines[1]["voice"], "host");
    assert_eq!(lines[1]["avatar"], "astronaut");
    assert_eq!(lines[1]["status"], "stale");
    assert_eq!(lines[1]["why"], "speech: new; clip: new");
    assert_eq!(lines[1]["clip"], Value::Null);

    let events = Events::open(port, &[]);
    let started = http::send_json(port, "POST", "/api/builds", "{}");
    assert_eq!(started.status, 202, "{}", started.text());
    assert_eq!(started.json(), serde_json::json!({ "id": 1 }));
    let ended = events.wait_for(|e| e["event"] == "build-ended");
    assert_eq!(ended["build"], 1);
    assert_eq!(ended["exit"], 0);
    assert_eq!(ended["stopped"], false);
    assert_eq!(
        ended["line"].as_str().unwrap().split(" in ").next(),
        Some("made 9, reused 0, failed 0")
    );

    // An event per artifact, and the summary last of the build's own events.
    let all: Vec<Value> = (events.all().into_iter())
        .filter(|e| e["build"] == 1)
        .collect();
    let kinds: Vec<&str> = all.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"build-started"));
    assert_eq!(kinds[kinds.len() - 2..], ["summary", "build-ended"]);
    let finished: Vec<&Value> = all.iter().filter(|e| e["event"] == "finished").collect();
    let summary = &all[all.len() - 2]["summary"];
    assert_eq!(
        finished
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>(),
        names(&summary["artifacts"], Some("made"))
    );
    assert_eq!(finished.len(), 9);
    for event in &finished {
        let artifact = (summary["artifacts"].as_array().unwrap().iter())
            .find(|a| a["name"] == event["name"])
            .unwrap();
        assert_eq!(
            (&event["key"], &event["kind"]),
            (&artifact["key"], &artifact["kind"])
        );
        assert_eq!(event["status"], "made");
    }
    assert_eq!(
        (all.iter().filter(|e| e["event"] == "started")).count(),
        9,
        "a started event per artifact"
    );

    // The summary is what `--json` writes: the same fields, and a no-op build's --json
    // lists the same artifacts with the same keys.
    let noop = folder.render(&["build"]);
    assert_eq!(noop.code, 0, "{}", noop.stderr);
    let json: Value = serde_json::from_str(&folder.read("report.json")).unwrap();
    let fields = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        fields(summary),
        fields(&json)
            .union(&BTreeSet::from(["gpu_lane".to_string()]))
            .cloned()
            .collect()
    );
    let keyed = |v: &Value| {
        (v["artifacts"].as_array().unwrap().iter())
            .map(|a| {
                (
                    a["name"].to_string(),
                    a["kind"].to_string(),
                    a["key"].to_string(),
                )
            })
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keyed(summary), keyed(&json));
    assert_eq!(summary["made"], 9);
    assert_eq!(
        summary["published"],
        json["published"].as_u64().unwrap() + 5
    );

    // The build as the API keeps it: its events and the same summary.
    let build = http::get(port, "/api/builds/1").json();
    assert_eq!(build["state"], "ended");
    assert_eq!(build["exit"], 0);
    assert_eq!(&build["summary"], summary);
    assert_eq!(build["events"].as_array().unwrap().len(), all.len() - 2);
    let builds = http::get(port, "/api/builds").json();
    assert_eq!(builds["running"], Value::Null);
    assert_eq!(builds["builds"][0]["id"], 1);
    assert_eq!(builds["builds"][0]["events"], serde_json::json!([]));
    let history = builds["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "the served build and the no-op");
    assert_eq!(history[1]["counts"]["made"], 9);
    assert_eq!(http::get(port, "/api/builds/7").status, 404);

    // After: up to date, published, each line's clip served from the cache.
    let scene = http::get(port, "/api/scenes/p/talk").json();
    assert_eq!(scene, http::get(port, "/api/scenes").json()["scenes"][0]);
    assert_eq!(scene["status"], "up-to-date");
    assert_eq!(scene["video"], "/media/out/p/talk.mp4");
    assert_eq!(scene["poster"], "/media/out/p/talk.jpg");
    let clip = scene["lines"][0]["clip"].as_str().unwrap();
    assert!(
        clip.starts_with("/media/objects/") && clip.ends_with("/clip.mp4"),
        "{clip}"
    );
    let served = http::get(port, clip);
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), Some("video/mp4"));
    assert_eq!(
        served.body,
        std::fs::read(folder.object("clip p/talk:1").join("clip.mp4")).unwrap()
    );
    let missing = http::get(port, "/api/scenes/p/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "no scene p/nope");

    // An edited line: stale, and why.
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five seven.",
    );
    let scene = http::get(port, "/api/scenes/p/talk").json();
    assert_eq!(scene["status"], "stale");
    assert_eq!(scene["lines"][0]["status"], "up-to-date");
    assert_eq!(scene["lines"][1]["status"], "stale");
    assert!(
        scene["lines"][1]["why"]
            .as_str()
            .unwrap()
            .starts_with("speech: "),
        "{scene}"
    );
}

#[test]
fn delete_cancels_the_running_build_and_a_second_post_is_409() {
    let folder = Folder::tiny();
    folder.edit("Renderfile.toml", "voice = \"host\"", "voice = \"slow\"");
    let text = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!(
            "{text}\n[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
             args = [\"{{engine_dir}}\", \"{{out}}\"]\ntimeout = 600\n\n[voices.slow]\nengine = \"fake\"\n"
        ),
    );
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.5)).unwrap();
    common::write_program(
        &folder.file("fake"),
        "#!/bin/sh\nsleep 600 &\nwait\ncp \"$1/tone.wav\" \"$2\"\n",
    );
    let (_server, port) = serve(&folder, &[]);
    let events = Events::open(port, &[]);
    assert_eq!(
        http::send_json(
            port,
            "POST",
            "/api/builds",
            r#"{"targets": ["p"], "force": false}"#
        )
        .status,
        202
    );
    events.wait_for(|e| e["event"] == "started" && e["kind"] == "speech");

    let again = http::send_json(port, "POST", "/api/builds", "{}");
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        serde_json::json!({ "error": "a build is running", "running": 1 })
    );
    assert_eq!(http::get(port, "/api/builds").json()["running"], 1);

    let cancel = http::send_json(port, "DELETE", "/api/builds/current", "{}");
    assert_eq!(cancel.status, 202);
    assert_eq!(cancel.json(), serde_json::json!({ "id": 1 }));
    let ended = events.wait_for(|e| e["event"] == "build-ended");
    assert_eq!(ended["exit"], 130);
    assert_eq!(ended["stopped"], true);
    let build = http::get(port, "/api/builds/1").json();
    assert_eq!(build["targets"], serde_json::json!(["p"]));
    let artifacts = &build["summary"]["artifacts"];
    let speeches: BTreeSet<String> = (1..=3).map(|n| format!("speech p/talk:{n}")).collect();
    assert!(names(artifacts, Some("cancelled")).is_subset(
        &speeches
            .union(&BTreeSet::from(["face-track astronaut".to_string()]))
            .cloned()
            .collect()
    ));
    assert!(
        !names(artifacts, Some("cancelled")).is_empty(),
        "{artifacts}"
    );
    assert_eq!(names(artifacts, Some("failed")), BTreeSet::new());
    assert_eq!(names(artifacts, Some("made")), BTreeSet::new());
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
    let none = http::send_json(port, "DELETE", "/api/builds/current", "{}");
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"], "no build is running");
    // The next one may start.
    assert_eq!(
        http::send_json(port, "POST", "/api/builds", r#"{"targets": ["p/talk"]}"#).json()["id"],
        2
    );
    http::send_json(port, "DELETE", "/api/builds/current", "{}");
    events.wait_for(|e| e["event"] == "build-ended" && e["build"] == 2);
    // A body that is not a build request.
    let bad = http::send_json(port, "POST", "/api/builds", r#"{"target": "p"}"#);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .contains("unknown field `target`"));
}

#[test]
fn media_is_served_with_ranges_and_nothing_outside_out_and_the_objects_by_any_spelling() {
    let folder = Folder::tiny();
    folder.build();
    const SECRET: &str = "the-secret-beside-out";
    folder.write("secret.txt", SECRET);
    std::os::unix::fs::symlink(folder.file("secret.txt"), folder.file("out/p/leak.mp4")).unwrap();
    std::os::unix::fs::symlink(folder.path(), folder.file("out/root")).unwrap();
    let clip = folder.object("clip p/talk:1");
    let key = clip.file_name().unwrap().to_str().unwrap().to_string();
    std::os::unix::fs::symlink(folder.file("secret.txt"), clip.join("leak.wav")).unwrap();
    let (_server, port) = serve(&folder, &[]);

    let video = std::fs::read(folder.file("out/p/talk.mp4")).unwrap();
    assert!(video.len() > 2000);
    let part = http::request(
        port,
        "GET",
        "/media/out/p/talk.mp4",
        &[("Range", "bytes=1000-1999")],
        b"",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, video[1000..2000]);
    assert_eq!(part.header("content-type"), Some("video/mp4"));
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-1999/{}", video.len()).as_str())
    );
    assert_eq!(part.header("accept-ranges"), Some("bytes"));
    let whole = http::get(port, "/media/out/p/talk.mp4");
    assert_eq!((whole.status, whole.body == video), (200, true));
    let past = http::request(
        port,
        "GET",
        "/media/out/p/talk.mp4",
        &[("Range", "bytes=99999999-")],
        b"",
    );
    assert_eq!(past.status, 416);
    for (path, kind) in [
        ("/media/out/p/talk.jpg", "image/jpeg"),
        ("/media/out/p/talk.vtt", "text/vtt; charset=utf-8"),
        (
            "/media/out/p/talk.srt",
            "application/x-subrip; charset=utf-8",
        ),
        ("/media/out/report.html", "text/html; charset=utf-8"),
    ] {
        let file = http::get(port, path);
        assert_eq!(
            (file.status, file.header("content-type")),
            (200, Some(kind)),
            "{path}"
        );
    }
    let speech = folder.object("speech p/talk:1");
    let speech_key = speech.file_name().unwrap().to_str().unwrap();
    let wav = http::get(port, &format!("/media/objects/{speech_key}/speech.wav"));
    assert_eq!(
        (wav.status, wav.header("content-type")),
        (200, Some("audio/wav"))
    );
    assert_eq!(wav.body, std::fs::read(speech.join("speech.wav")).unwrap());

    let short = &key[..2];
    let spellings = [
        "/media/out/../secret.txt".to_string(),
        "/media/out/%2e%2e/secret.txt".into(),
        "/media/out/%2E%2E/secret.txt".into(),
        "/media/out/..%2fsecret.txt".into(),
        "/media/out/..%2Fsecret.txt".into(),
        "/media/out/%2e%2e%2fsecret.txt".into(),
        "/media/out/p/..%2f..%2fsecret.txt".into(),
        "/media/out/p/../../secret.txt".into(),
        "/media/out/./../secret.txt".into(),
        "/media/out/.%2e/secret.txt".into(),
        "/media/out/%252e%252e/secret.txt".into(),
        "/media/out/..%5csecret.txt".into(),
        "/media/out/..\\secret.txt".into(),
        "/media/out//secret.txt".into(),
        "/media/out/%2fsecret.txt".into(),
        format!("/media/out/{}", folder.file("secret.txt").display()),
        format!(
            "/media/out/%2f{}",
            folder
                .file("secret.txt")
                .display()
                .to_string()
                .trim_start_matches('/')
                .replace('/', "%2f")
        ),
        "/media/out/p/leak.mp4".into(),
        "/media/out/root/secret.txt".into(),
        "/media/out/root/out/../secret.txt".into(),
        "/media/out/secret.txt%00.mp4".into(),
        "/media/out/%c0%ae%c0%ae/secret.txt".into(),
        "/media/out/%ef%bc%8e%ef%bc%8e/secret.txt".into(),
        format!("/media/objects/{key}/leak.wav"),
        format!("/media/objects/{key}/../../../secret.txt"),
        format!("/media/objects/{key}/..%2f..%2f..%2fsecret.txt"),
        "/media/objects/..%2f..%2f..%2fsecret.txt/x".into(),
        format!("/media/objects/{short}/{key}"),
        "/media/objects/..%2f..%2fsecret.txt/record.json".into(),
        "/secret.txt".into(),
        "/media/../secret.txt".into(),
        "/media/out/..".into(),
    ];
    assert!(spellings.len() >= 30);
    for path in &spellings {
        let answer = http::get(port, path);
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
        assert!(!answer.text().contains(SECRET), "{path}");
    }
    // Nor the declarations, nor the cache's own files.
    for path in [
        "/media/out/../projects/p/project.toml",
        "/media/out/../cache/history.jsonl",
    ] {
        assert_eq!(http::get(port, path).status, 404, "{path}");
    }
}

#[test]
fn beyond_loopback_every_request_needs_the_token_and_a_change_a_json_body() {
    let folder = Folder::tiny();
    let (server, port) = serve(&folder, &["--bind", "0.0.0.0"]);
    let stderr = server.stderr();
    let token = stderr
        .split("(printed once): ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no token printed: {stderr}"))
        .to_string();
    assert_eq!(token.len(), 64);
    let bearer = format!("Bearer {token}");
    let json = ("Content-Type", "application/json");
    for (method, path) in [("POST", "/api/builds"), ("DELETE", "/api/builds/current")] {
        let refused = http::request(port, method, path, &[json], b"{}");
        assert_eq!(refused.status, 401, "{method} {path}");
        assert_eq!(
            refused.json()["error"],
            "this request needs the server's token"
        );
        let wrong = http::request(
            port,
            method,
            path,
            &[json, ("Authorization", "Bearer nope")],
            b"{}",
        );
        assert_eq!(wrong.status, 401);
    }
    assert_eq!(http::get(port, "/api/scenes").status, 401);
    assert_eq!(http::get(port, "/").status, 401);
    let read = http::request(
        port,
        "GET",
        "/api/scenes",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(read.status, 200);
    // With the token, a change still needs a JSON body (no cross-site form posts).
    let form = http::request(
        port,
        "DELETE",
        "/api/builds/current",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"a=b",
    );
    assert_eq!(form.status, 415);
    let delete = http::request(
        port,
        "DELETE",
        "/api/builds/current",
        &[("Authorization", &bearer), json],
        b"{}",
    );
    assert_eq!(delete.status, 404, "no build runs: past the checks");
    // Once in a browser's address bar: a cookie for the page's own requests.
    let page = http::get(port, &format!("/?token={token}"));
    assert_eq!(page.status, 200);
    let cookie = page.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(
        http::request(port, "GET", "/api/builds", &[("Cookie", pair)], b"").status,
        200
    );
    drop(server);

    // --public-read: reads are open, changes are not.
    let (_server, port) = serve(
        &folder,
        &["--bind", "0.0.0.0", "--token", "sesame", "--public-read"],
    );
    assert_eq!(http::get(port, "/api/scenes").status, 200);
    assert_eq!(
        http::send_json(port, "POST", "/api/builds", "{}").status,
        401
    );

    // On loopback without a token: a change needs a JSON body, and the Host must be this
    // machine (a page rebinding its own name to 127.0.0.1 is refused).
    let (_server, port) = serve(&folder, &[]);
    assert_eq!(
        http::request(
            port,
            "POST",
            "/api/builds",
            &[("Content-Type", "text/plain")],
            b"{}"
        )
        .status,
        415
    );
    let rebound = http::request(
        port,
        "GET",
        "/api/scenes",
        &[("Host", "evil.example:80")],
        b"",
    );
    assert_eq!(rebound.status, 403);
}

/// The tiny folder with a second scene, one of whose lines is markup.
fn two_scenes() -> Folder {
    let folder = Folder::tiny();
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"talk\"\nlines = [\"One two three.\", \"Four five six.\"]\n\n\
         [[scene]]\nname = \"more\"\nlines = [\"<script>window.ran = 1</script> Seven.\"]\n",
    );
    folder
}

#[test]
fn in_chromium_every_video_plays_to_its_length_and_an_edit_updates_the_page_without_a_reload() {
    let Some(mut browser) = common::devtools::Browser::launch() else {
        return;
    };
    let folder = two_scenes();
    folder.build();
    let (_server, port) = serve(&folder, &["--watch"]);
    browser.open(&format!("http://127.0.0.1:{port}/"));
    browser.wait_for("document.querySelectorAll('video').length === 2", LIMIT);
    // The first --watch build (nothing to make) has ended.
    browser.wait_for(
        "fetch('/api/builds').then(r => r.json()).then(b => b.running === null && b.builds.length === 1)",
        LIMIT,
    );

    // Every scene's player loads its video, and the browser reads the length ffprobe does.
    browser.eval(
        "for (const v of document.querySelectorAll('video')) { v.muted = true; v.play(); } true",
    );
    browser.wait_for(
        "[...document.querySelectorAll('video')].every(v => v.readyState >= 2)",
        LIMIT,
    );
    for (scene, fps) in [("p/talk", 25.0), ("p/more", 25.0)] {
        let seconds = browser.eval(&format!(
            "document.querySelector('[data-scene=\"{scene}\"] video').duration"
        ));
        let (_, _, _, probed) = common::probe(&folder.file(&format!("out/{scene}.mp4")));
        let seconds = seconds.as_f64().unwrap();
        assert!(
            (seconds - probed).abs() <= 1.0 / fps,
            "{scene}: {seconds} s in the browser, {probed} s by ffprobe"
        );
    }
    // The markup in a line is text: the script never ran.
    assert_eq!(
        browser.eval("window.ran === undefined"),
        serde_json::json!(true)
    );

    // An edit while the page is open: the scene turns stale/building, then up to date with
    // a new poster, without a reload.
    browser.eval("window.stayed = true");
    let poster = "document.querySelector('[data-scene=\"p/talk\"] img.poster').getAttribute('src')";
    let before = browser.eval(poster);
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five seven.",
    );
    browser.wait_for(
        "['changed', 'building'].includes(document.querySelector('[data-scene=\"p/talk\"] .status').textContent)",
        LIMIT,
    );
    browser.wait_for(
        &format!("document.querySelector('[data-scene=\"p/talk\"] .status').textContent === 'up-to-date' && {poster} !== {before}"),
        Duration::from_secs(120),
    );
    assert_eq!(
        browser.eval("window.stayed"),
        serde_json::json!(true),
        "the page was reloaded"
    );
    assert_eq!(
        browser.eval("document.querySelector('[data-scene=\"p/more\"] .status').textContent"),
        "up-to-date"
    );

    // The scene page: lines as text, each clip playable.
    browser.open(&format!("http://127.0.0.1:{port}/scenes/p/more"));
    browser.wait_for(
        "document.querySelectorAll('tr[data-line]').length === 1",
        LIMIT,
    );
    assert_eq!(
        browser.eval("document.querySelector('tr[data-line] td:nth-child(2)').textContent"),
        "<script>window.ran = 1</script> Seven."
    );
    assert_eq!(
        browser.eval("window.ran === undefined"),
        serde_json::json!(true)
    );
    browser.eval(
        "const c = document.querySelector('tr[data-line] video'); c.muted = true; c.play(); true",
    );
    browser.wait_for(
        "document.querySelector('tr[data-line] video').readyState >= 2",
        LIMIT,
    );
}

#[test]
fn in_chromium_the_report_shows_a_line_with_a_script_as_text_and_runs_nothing() {
    let Some(mut browser) = common::devtools::Browser::launch() else {
        return;
    };
    let folder = Folder::tiny();
    let text = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!(
            "{text}\n[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
             args = [\"{{text}}\"]\ntimeout = 30\n\n[voices.loud]\nengine = \"fake\"\n"
        ),
    );
    // The program fails, its log saying the line's text: markup, in the report's failure.
    common::write_program(
        &folder.file("fake"),
        "#!/bin/sh\necho \"cannot say: $1\" >&2\nexit 3\n",
    );
    let line = "<script>window.ran = 1</script><img src=x onerror=\"window.ran = 2\">";
    folder.write(
        "projects/p/project.toml",
        &format!(
            "[[scene]]\nname = \"talk\"\nlines = [\"One two three.\"]\n\n[[scene]]\nname = \"bad\"\n\
             voice = \"loud\"\nlines = [{}]\n",
            serde_json::to_string(line).unwrap()
        ),
    );
    let run = folder.render(&["build", "--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let (_server, port) = serve(&folder, &[]);
    browser.open(&format!("http://127.0.0.1:{port}/media/out/report.html"));
    browser.wait_for("document.readyState === 'complete'", LIMIT);
    let shown = browser.eval("document.querySelector('article.failure pre.message').textContent");
    assert!(
        shown
            .as_str()
            .unwrap()
            .contains(&format!("cannot say: {line}")),
        "{shown}"
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('script').length"),
        0
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('article.failure img').length"),
        0
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        browser.eval("window.ran === undefined"),
        serde_json::json!(true)
    );
}

#[test]
fn without_watch_every_build_on_the_folder_reaches_open_pages_through_the_event_stream() {
    let folder = Folder::tiny();
    let (_server, port) = serve(&folder, &[]);
    let events = Events::open(port, &[]);
    assert_eq!(
        http::get(port, "/api/scenes/p/talk").json()["status"],
        "stale"
    );

    // Another `render build` on the folder, in a terminal: the page learns of it.
    folder.build();
    let recorded = events.wait_for(|e| e["event"] == "recorded");
    assert_eq!(recorded["exit"], 0);
    assert_eq!(recorded["counts"]["made"], 9);
    assert_eq!(recorded["counts"]["failed"], 0);
    assert_eq!(recorded["command"][1], "build");
    let scene = http::get(port, "/api/scenes/p/talk").json();
    assert_eq!(scene["status"], "up-to-date");
    assert_eq!(scene["video"], "/media/out/p/talk.mp4");

    // A no-op build is a build too.
    folder.build();
    events.wait_for(|e| e["event"] == "recorded" && e["counts"]["reused"] == 9);

    // A build started through the API: its own events, then its record.
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five seven.",
    );
    let started = http::send_json(port, "POST", "/api/builds", "{}");
    assert_eq!(started.status, 202, "{}", started.text());
    events.wait_for(|e| e["event"] == "build-ended" && e["build"] == 1);
    let third = events.wait_for(|e| {
        e["event"] == "recorded"
            && e["counts"]["made"].as_u64().is_some_and(|n| n > 0)
            && e["counts"]["reused"] != 0
    });
    assert_eq!(third["exit"], 0);
    assert_eq!(third["command"][1], "build");
    assert_eq!(
        events
            .all()
            .iter()
            .filter(|e| e["event"] == "recorded")
            .count(),
        3,
        "one event per build: {:?}",
        events.all()
    );
}
