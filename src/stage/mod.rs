//! Stages: one file per artifact kind, each telling its whole story — which inputs it
//! reads (named in its key spec, which is also where the graph's edges come from), what
//! goes into its key, which engine makes it, and how its output is checked before it may
//! enter the cache. How the work is done lives in the engines (`src/engine/`).

pub mod broll;
pub mod captions;
pub mod cuts;
pub mod episode;
pub mod face_track;
pub mod lipsync;
pub mod pose;
pub mod scene;
pub mod segment;
pub mod shot;
pub mod speech;
pub mod still;
pub mod two_shot;
pub mod voice;

use crate::key::ArtifactKind;

/// The file users care about in an object of `kind`, for `out/` and `--json`.
pub fn main_output(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Voice => voice::OUTPUT,
        ArtifactKind::Speech => speech::OUTPUT,
        ArtifactKind::FaceTrack => face_track::OUTPUT,
        ArtifactKind::Clip => lipsync::OUTPUT,
        ArtifactKind::Scene => scene::OUTPUT,
        ArtifactKind::Captions => captions::OUTPUT,
        ArtifactKind::Episode => episode::OUTPUT,
        ArtifactKind::Cuts => cuts::OUTPUT,
        ArtifactKind::Segment => segment::OUTPUT,
        ArtifactKind::Still => still::OUTPUT,
        ArtifactKind::Shot => shot::OUTPUT,
        ArtifactKind::Pose => pose::OUTPUT,
        ArtifactKind::Track => two_shot::TRACK,
        ArtifactKind::TwoShot => two_shot::OUTPUT,
    }
}
