//! Links libtorch into `render-worker` so CUDA is really reachable (and into nothing else:
//! `render` must start fast and small), embeds rustface's detector model, and compiles the
//! tiny C++ shim that empties the CUDA caching allocator (tch has no binding).

use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/bin/render-worker/cuda_cache.cpp");
    link_libtorch();
    embed_face_model();
}

/// torch-sys links with `--as-needed`, which drops `libtorch_cuda.so` because nothing
/// names its symbols directly: CUDA then silently reports "unavailable". Keep libtorch
/// needed in the worker only, and record its directory as an rpath (for the worker and the
/// test binaries that use tch) so no LD_LIBRARY_PATH is required. `render` itself names no
/// torch symbol, so `--as-needed` leaves libtorch out of it.
fn link_libtorch() {
    let lib = PathBuf::from(
        env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys did not report its libtorch lib dir"),
    );
    // Resolve the `.venv/libtorch` link: the rpath and the CUDA headers are found from the
    // real site-packages folder.
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg-bin=render-worker=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg-bin=render-worker=-ltorch");
    println!("cargo:rustc-link-arg-bin=render-worker=-Wl,--as-needed");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());

    let torch = lib.parent().expect("libtorch lib dir has a parent");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .include(torch.join("include"))
        .include(torch.join("include/torch/csrc/api/include"))
        .file("src/bin/render-worker/cuda_cache.cpp")
        .compile("render_cuda_cache");
    println!("cargo:rustc-link-arg-bin=render-worker=-lc10");
    println!("cargo:rustc-link-arg-tests=-lc10");
}

/// rustface ships its SeetaFace model inside the crate's source; embed it so the
/// detector works with no download and no path to configure.
fn embed_face_model() {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Offline metadata for every platform would need crates never downloaded (Windows
    // ones), so ask for this target only; go online only if offline resolution fails.
    let target = env::var("TARGET").expect("cargo sets TARGET for build scripts");
    let metadata = |extra: &[&str]| {
        let output = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                &target,
            ])
            .args(extra)
            .current_dir(env::var("CARGO_MANIFEST_DIR").unwrap())
            .output()
            .expect("cargo metadata runs");
        serde_json::from_slice::<serde_json::Value>(&output.stdout).ok()
    };
    let metadata = metadata(&["--offline"])
        .or_else(|| metadata(&[]))
        .expect("cargo metadata lists the dependencies");
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "rustface")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("rustface is a dependency");
    let model = PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("model/seeta_fd_frontal_v1.0.bin");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("seeta_fd_frontal_v1.0.bin");
    fs::copy(&model, &out).unwrap_or_else(|e| panic!("copy {}: {e}", model.display()));
    println!("cargo:rerun-if-changed={}", model.display());
}
