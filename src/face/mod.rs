//! The face: the built-in face, and the face and audio arithmetic the model engines share
//! with it.
//!
//! **The built-in face** is render's own lip-sync: it runs on the CPU with no model of its
//! own beyond the face track's 468 landmarks, and always works. Its engine is
//! `engine/builtin_lipsync.rs`; its machinery is here. Speech becomes one mouth shape per
//! frame ([`viseme`]: loudness and spectrum, read through the log-mel front end [`mel`]); the
//! clip's key seeds blinks and, for a still portrait, an idle sway of the head ([`idle`]);
//! the rig moves the landmarks for them and paints the mouth's inside ([`face_rig`]); a
//! piecewise-affine mesh warp carries the pixels with the landmarks ([`face_warp`]). The
//! quality measures ([`face_quality`]: lips against loudness, mouth drift, blinks, head
//! motion, chin) say how a rendered face moves compared with its portrait, for
//! `render bench face` and `tests/builtin_face.rs`.
//!
//! **Why it lives together**: a motion of the face touches all of these at once — its
//! landmarks in the rig, what drives it in the visemes or the idle motion, its measure in
//! the quality figures (ARCHITECTURE.md, "A motion of the built-in face") — and none of
//! them is an engine: they are pure functions of frames, landmarks and samples, tested
//! without ffmpeg or libtorch. Engines call in; nothing here calls an engine.
//!
//! Beside it, the two face models' image and audio sides, each shared by an engine and the
//! model worker (`src/bin/render-worker/`), so neither owns it: [`facemesh`], the landmark
//! model's context patches, two passes and mapping back (the face-track engine
//! `engine/rustface.rs`; the worker's facemesh call and `render bench face`); [`wav2lip`],
//! Wav2Lip's face crop and feathered paste back (`engine/torchscript.rs`; the worker's
//! bench); and [`mel`], Wav2Lip's log-mel front end, which the built-in face's visemes read
//! too.

pub mod face_quality;
pub mod face_rig;
pub mod face_warp;
pub mod facemesh;
pub mod idle;
pub mod mel;
pub mod viseme;
pub mod wav2lip;
