//! No two modules import each other, directly or through others (ARCHITECTURE.md, "Rules the
//! code keeps"): `tools/check-cycles` reads every `src/**/*.rs` and must find no cycle. The
//! second test holds the checker itself to its rules on a crate made for it, so a checker
//! that sees nothing cannot pass the first.

use std::path::Path;
use std::process::{Command, Output};

fn check(repo: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/check-cycles");
    Command::new("python3")
        .arg(&script)
        .arg(repo)
        .output()
        .expect("python3 runs tools/check-cycles")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let out = check(Path::new(env!("CARGO_MANIFEST_DIR")));
    let said = text(&out);
    assert!(out.status.success(), "tools/check-cycles:\n{said}");
    assert!(said.starts_with("no cycle among "), "{said}");
}

#[test]
fn the_checker_finds_a_cycle_through_uses_paths_and_re_exports() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join("src").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n");
    // a -> b by a `use`, b -> c::inner by a path through c's re-export, c::inner -> a by
    // `super::super`: one cycle of three.
    write("a.rs", "use crate::b::{self, B};\npub struct A;\n");
    write(
        "b.rs",
        "pub struct B;\npub fn f() {\n    let _ = crate::c::C;\n}\n",
    );
    write("c/mod.rs", "pub mod inner;\npub use inner::C;\n");
    write("c/inner.rs", "use super::super::a::A;\npub struct C;\n");
    // Not edges: comments, strings, a parent on its child, a test module on its file.
    write(
        "d/mod.rs",
        "pub mod e;\n// crate::a::A\n/// [`crate::b::B`]\npub fn g() -> &'static str {\n    \
         e::h();\n    \"crate::a::A\"\n}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    write("d/e.rs", "pub fn h() {\n    let _ = super::g;\n}\n");

    let out = check(dir.path());
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cycle among 3 modules: a, b, c::inner"),
        "{said}"
    );
    assert!(said.contains("a -> b  (src/a.rs:1)"), "{said}");
    assert!(said.contains("b -> c::inner  (src/b.rs:3)"), "{said}");
    assert!(said.contains("c::inner -> a  (src/c/inner.rs:1)"), "{said}");
    assert!(!said.contains("d ->") && !said.contains("d::e"), "{said}");

    write("a.rs", "pub struct A;\n");
    let out = check(dir.path());
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert_eq!(said, "no cycle among 7 modules\n");
}
