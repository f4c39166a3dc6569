//! The HTML templates (`templates/*.html`, compiled into the binary), rendered by
//! minijinja with autoescape on: every value put into a page is HTML-escaped unless a
//! template says otherwise, so no user text (a line, a scene's name, a failure's log) can
//! become markup. Every page render makes — the studio's (`studio::app`) and
//! `out/report.html` (`html_report.rs`) — comes from here; none is built by
//! concatenating strings.

use std::sync::OnceLock;

use minijinja::Environment;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("scenes.html", include_str!("../templates/scenes.html")),
    ("scene.html", include_str!("../templates/scene.html")),
    ("compare.html", include_str!("../templates/compare.html")),
    ("builds.html", include_str!("../templates/builds.html")),
    ("report.html", include_str!("../templates/report.html")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // The default callback: `.html` names are escaped for HTML, by `escape` (the
        // five characters that matter in an element or a quoted attribute).
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() {
                if value.is_none() || value.is_undefined() {
                    return Ok(());
                }
                let text = match value.as_str() {
                    Some(text) => escape(text),
                    None => escape(&value.to_string()),
                };
                out.write_str(&text).map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
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

/// Renders template `name` with `context` (any `Serialize`).
pub fn render(name: &str, context: impl serde::Serialize) -> Result<String, minijinja::Error> {
    environment().get_template(name)?.render(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let page = render(
            "builds.html",
            serde_json::json!({
                "title": "<script>alert(1)</script>",
                "builds": [],
                "running": null,
                "token_query": ""
            }),
        )
        .unwrap();
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>alert(1)"));
    }

    #[test]
    fn the_compare_page_escapes_the_scene_and_its_variants() {
        let variant = serde_json::json!({
            "name": "a\"b", "first": true, "status": "stale", "why": "<img src=x>", "key": "00",
            "video": "/media/out/p/x@a.mp4", "poster": null, "seconds": 1.5, "own_seconds": null,
            "engines": ["<b>"],
        });
        let page = render(
            "compare.html",
            serde_json::json!({
                "title": "t", "running": null, "errors": [],
                "scene": { "project": "p", "name": "<script>x</script>", "status": "stale",
                           "variants": [variant] },
            }),
        )
        .unwrap();
        assert!(
            page.contains("&lt;script&gt;x&lt;/script&gt;: 1 variant</h1>"),
            "{page}"
        );
        assert!(page.contains("data-variant=\"a&quot;b\""), "{page}");
        assert!(
            page.contains("&lt;img src=x&gt;") && page.contains("&lt;b&gt;"),
            "{page}"
        );
        assert!(page.contains("1.50 s"), "{page}");
        assert!(!page.contains("<script>x") && !page.contains("<b>"));
    }
}
