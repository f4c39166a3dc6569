//! Planning: for every line, avatar and scene, the stage's key and the engine that makes the
//! artifact — the one place that turns the user's declarations (a voice's engine, an
//! avatar's `lipsync`, a declared `[engines.<name>]`) into engine choices. Stages (`src/stage/`) say what an artifact is;
//! engines (`src/engine/`) say how it is made; this file joins them, so neither depends on
//! the other's choices.

use crate::device::Device;
use crate::engine::builtin_lipsync::BuiltinLipsync;
use crate::engine::captions::Captions;
use crate::engine::command::CommandJob;
use crate::engine::espeak::Espeak;
use crate::engine::ffmpeg::{Burn, SceneMux};
use crate::engine::recording::Recording;
use crate::engine::rustface::{LandmarkModel, Rustface};
use crate::engine::torchscript::Torchscript;
use crate::engine::EngineJob;
use crate::error::Result;
use crate::key::{Key, KeySpec};
use crate::loudness;
use crate::manifest::{Avatar, Episode, Line, Scene, Voice, VoiceEngine};
use crate::sources::SourceHashes;
use crate::stage::face_track::LandmarkKey;
use crate::stage::lipsync::AvatarFrames;
use crate::stage::{captions, face_track, lipsync, scene, speech, voice};

/// The declared command engines, by name.
pub type Engines = std::collections::BTreeMap<String, crate::manifest::command::CommandEngine>;

/// A line's speech: a recording when it has one, else its voice's engine. `conditioning`
/// is the voice's conditioning artifact, when its engine clones voices.
pub fn speech(
    line: &Line,
    voice: &Voice,
    engines: &Engines,
    conditioning: Option<Key>,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    if let Some(file) = &line.audio {
        let engine = Recording { file: file.clone() };
        let spec = engine.key(speech::key("import"), hashes)?;
        return Ok((spec, EngineJob::Recording(engine)));
    }
    match &voice.engine {
        VoiceEngine::Espeak { .. } => {
            let engine = Espeak::new(&line.text, &voice.engine);
            let spec = engine.key(speech::key("espeak-ng"))?;
            Ok((spec, EngineJob::Espeak(engine)))
        }
        VoiceEngine::Command {
            engine,
            language,
            samples,
        } => {
            let engine = &engines[engine];
            let job =
                CommandJob::speech(engine, device, &voice.name, language, samples, &line.text);
            let mut spec = job.key(speech::key(engine.name.clone()), engine, hashes)?;
            if let Some(conditioning) = conditioning {
                spec = spec.input(voice::CONDITIONING, conditioning);
            }
            Ok((spec, EngineJob::Command(Box::new(job))))
        }
    }
}

/// A cloned voice's conditioning, made once per voice by its speech engine's
/// `conditioning` engine; None when its engine does not clone voices this way.
pub fn voice_conditioning(
    voice: &Voice,
    engines: &Engines,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Option<Result<(KeySpec, EngineJob)>> {
    let VoiceEngine::Command {
        engine,
        language,
        samples,
    } = &voice.engine
    else {
        return None;
    };
    let engine = &engines[engines[engine].conditioning.as_ref()?];
    let job = CommandJob::voice(engine, device, &voice.name, language, samples);
    Some(
        job.key(voice::key(engine.name.clone()), engine, hashes)
            .map(|spec| (spec, EngineJob::Command(Box::new(job)))),
    )
}

/// An avatar's face track: rustface, the detector built into the binary, then the face
/// landmark model on `device` when render's installation has it (boxes only without);
/// a still avatar larger than `needed_side` (`face_track::needed_side`) is worked scaled.
pub fn face_track(
    avatar: &Avatar,
    needed_side: u32,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let landmarks = match (crate::face_model::installed(), device) {
        (Ok(model), Some(device)) => Some(LandmarkModel {
            model: crate::face_model::NAME.to_string(),
            file: model.file.clone(),
            blake3: model.pin.clone(),
            batch_size: model.batch_size,
            device,
        }),
        _ => None,
    };
    let key = landmarks.as_ref().map(|model| LandmarkKey {
        model: &model.model,
        blake3: &model.blake3,
        precision: model.device.precision(),
    });
    let work_side = face_track::work_side(avatar, needed_side);
    let spec = face_track::key(avatar, "rustface", key, work_side, hashes)?;
    let engine = Rustface {
        source: avatar.source.clone(),
        kind: avatar.kind,
        landmarks,
        work_side,
        face: avatar.face,
    };
    Ok((spec, EngineJob::Rustface(Box::new(engine))))
}

/// A line's clip: the avatar's command engine or model when it names one (on `device`,
/// which the build resolves whenever an avatar uses a model), else the built-in mouth.
pub fn clip(
    avatar: &Avatar,
    engines: &Engines,
    face_track: Key,
    speech: Key,
    fps: crate::fps::Fps,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let spec = lipsync::key(avatar, face_track, speech, fps, hashes)?;
    let frames = AvatarFrames {
        source: avatar.source.clone(),
        kind: avatar.kind,
        fps,
    };
    if let Some(engine) = engines.get(&avatar.lipsync) {
        let job = CommandJob::clip(engine, device, frames);
        let spec = job.key(spec, engine, hashes)?;
        return Ok((spec, EngineJob::Command(Box::new(job))));
    }
    match (&avatar.model, device) {
        (None, _) => Ok((
            spec.param("face", crate::engine::builtin_lipsync::VERSION),
            EngineJob::BuiltinLipsync(BuiltinLipsync(frames)),
        )),
        (Some(model), Some(device)) => {
            let (spec, engine) = Torchscript::plan(spec, frames, model, device, hashes)?;
            Ok((spec, EngineJob::Torchscript(Box::new(engine))))
        }
        (Some(_), None) => unreachable!("the build resolves a device when an avatar uses a model"),
    }
}

/// A scene: muxed by ffmpeg from its lines' (clip, speech), in script order; `faces` is
/// each line's face track, which face framing reads; its `captions` are drawn in when it
/// burns them.
pub fn scene(
    scene: &Scene,
    lines: &[(Key, Key)],
    faces: &[Option<Key>],
    (captions, background): (Key, Option<Key>),
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    // How the engine normalises loudness is part of what the scene's audio is.
    let mut spec = scene::key(scene, lines, hashes)?.param("loudnorm", loudness::VERSION);
    // A still or shot as the background: its artifact, by key.
    if let Some(background) = background {
        spec = spec.input(scene::BACKGROUND, background);
    }
    let mut spec = scene::framing_key(spec, scene.framing, faces);
    let burn = match &scene.burn {
        Some(style) => {
            spec = scene::burned(spec, style, captions, &crate::font::blake3()?);
            Some(Burn {
                style: *style,
                font: crate::font::path(),
            })
        }
        None => None,
    };
    let engine = SceneMux {
        lines: lines.len(),
        background: scene.background.clone(),
        fps: scene.fps,
        width: scene.width,
        height: scene.height,
        pause: scene.pause,
        framing: scene.framing,
        burn,
        loudness: loudness::Target {
            integrated: scene.loudness,
            true_peak: scene.true_peak,
        },
    };
    Ok((spec, EngineJob::Ffmpeg(Box::new(engine))))
}

/// A scene's captions: made in Rust from its lines' texts and speech, in script order.
/// `speech` is each line's speech key.
pub fn captions(scene: &Scene, speech: &[Key]) -> (KeySpec, EngineJob) {
    let lines: Vec<(Key, &str)> = (speech.iter().zip(&scene.lines))
        .map(|(key, line)| (*key, line.text.as_str()))
        .collect();
    let spec = captions::key(&lines, scene.fps, scene.pause);
    let engine = Captions {
        texts: scene.lines.iter().map(|line| line.text.clone()).collect(),
        fps: scene.fps,
        pause: scene.pause,
    };
    (spec, EngineJob::Captions(engine))
}

/// A project's episode: joined by ffmpeg from its scenes, in the episode's order, between
/// its intro and outro. `scenes` is (scene, captions) per scene of the episode; `made`
/// the keys of the intro and outro made by render (a still or a shot).
pub fn episode(
    episode: &Episode,
    scenes: &[(Key, Key)],
    made: [Option<Key>; 2],
    target: loudness::Target,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    use crate::engine::episode::{EpisodeMux, Part};
    let spec = (crate::stage::episode::key(episode, scenes, made, hashes)?)
        .param("loudness", format!("{} LUFS", target.integrated))
        .param("true-peak", format!("{} dBTP", target.true_peak))
        .param("loudnorm", loudness::VERSION);
    let parts = (episode.intro.clone().map(Part::Intro).into_iter())
        .chain((0..scenes.len()).map(Part::Scene))
        .chain(episode.outro.clone().map(Part::Outro))
        .collect();
    let engine = EpisodeMux {
        parts,
        transition: episode.transition,
        transition_seconds: episode.transition_seconds,
        music: episode.music.clone(),
        music_volume: episode.music_volume,
        loudness: target,
    };
    Ok((spec, EngineJob::Episode(Box::new(engine))))
}

/// The longest speech the avatar's lip-sync engine takes in one run (`max_seconds`), when
/// it declares one: its lines are then cut into segments.
pub fn max_seconds(avatar: &Avatar, engines: &Engines) -> Option<f64> {
    engines.get(&avatar.lipsync).and_then(|e| e.max_seconds)
}

/// A long line's cuts: where its speech is cut at its pauses, made in Rust.
pub fn cuts(speech: Key, fps: crate::fps::Fps, max_seconds: f64) -> (KeySpec, EngineJob) {
    let spec = crate::stage::cuts::key(speech, fps, max_seconds);
    let engine = crate::engine::pauses::Pauses { fps, max_seconds };
    (spec, EngineJob::Pauses(engine))
}

/// One segment of a long line's clip, made by the avatar's command engine from the
/// segment's WAV in the cuts object `cuts`; `previous` is the segment before when the
/// engine continues from its last frame, `last_frame` whether one after it will.
#[allow(clippy::too_many_arguments)]
pub fn segment(
    avatar: &Avatar,
    engines: &Engines,
    face_track: Key,
    cuts: &std::path::Path,
    piece: &crate::stage::cuts::Segment,
    fps: crate::fps::Fps,
    previous: Option<Key>,
    last_frame: bool,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    use crate::stage::segment;
    let engine = &engines[&avatar.lipsync];
    let mut spec = segment::key(avatar, face_track, piece, fps, previous, hashes)?;
    if last_frame {
        spec = spec.param("last-frame", segment::LAST_FRAME);
    }
    let frames = AvatarFrames {
        source: avatar.source.clone(),
        kind: avatar.kind,
        fps,
    };
    let mut job = CommandJob::clip(engine, device, frames);
    job.segment = Some(Box::new(segment::Part {
        audio: cuts.join(&piece.file),
        blake3: piece.blake3,
        frames: piece.frames,
        continued: previous.is_some(),
        last_frame,
    }));
    let spec = job.key(spec, engine, hashes)?;
    Ok((spec, EngineJob::Command(Box::new(job))))
}

/// A long line's clip, joined by ffmpeg from its segments, in order.
pub fn joined_clip(
    avatar: &Avatar,
    speech: Key,
    segments: &[Key],
    fps: crate::fps::Fps,
) -> Result<(KeySpec, EngineJob)> {
    let spec = crate::stage::segment::join_key(avatar, speech, segments, fps)?;
    let engine = crate::engine::join::Join {
        fps,
        segments: segments.len(),
    };
    Ok((spec, EngineJob::Join(engine)))
}

/// Person `person`'s audio track in a two-person shot, made in Rust from every line's
/// speech (`speeches`, in script order); `people` says who says each line.
pub fn track(
    person: usize,
    people: &[usize],
    speeches: &[Key],
    fps: crate::fps::Fps,
) -> (KeySpec, EngineJob) {
    let spec = crate::stage::two_shot::track_key(person, speeches, people, fps);
    let engine = crate::engine::tracks::Tracks {
        person,
        people: people.to_vec(),
        fps,
    };
    (spec, EngineJob::Tracks(engine))
}

/// A two-person shot, made by its engine (`shot.engine`, a command engine that takes
/// both people's audio) from both tracks and both avatars with their face tracks.
#[allow(clippy::too_many_arguments)]
pub fn two_shot(
    shot: &crate::manifest::TwoShot,
    avatars: [&Avatar; 2],
    engines: &Engines,
    faces: [Key; 2],
    tracks: [Key; 2],
    fps: crate::fps::Fps,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let engine = &engines[&shot.engine];
    let spec = crate::stage::two_shot::shot_key(&engine.name, avatars, faces, tracks, fps, hashes)?;
    let frames = |avatar: &Avatar| AvatarFrames {
        source: avatar.source.clone(),
        kind: avatar.kind,
        fps,
    };
    let job = CommandJob::two_shot(engine, device, frames(avatars[0]), frames(avatars[1]));
    let spec = job.key(spec, engine, hashes)?;
    Ok((spec, EngineJob::Command(Box::new(job))))
}

/// A still (`[stills.<name>]`): made by its command engine from its prompt, numbers,
/// LoRAs and picture (`image`: a file's hash, or the still it is made from, by key).
pub fn still(
    still: &crate::manifest::shots::Still,
    engines: &Engines,
    image: Option<crate::stage::still::Image>,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let engine = &engines[&still.made.engine];
    let spec = crate::stage::still::key(&engine.name, &still.made, image.as_ref(), hashes)?;
    let job = CommandJob::still(engine, device, &still.made, picture_file(image));
    let spec = job.key(spec, engine, hashes)?;
    Ok((spec, EngineJob::Command(Box::new(job))))
}

/// A shot (`[shots.<name>]`): a still's inputs, its frames, fps and seconds, and the pose
/// video it follows (`pose`, by key) for a pose-guided engine.
pub fn shot(
    shot: &crate::manifest::shots::Shot,
    engines: &Engines,
    image: Option<crate::stage::still::Image>,
    pose: Option<Key>,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let engine = &engines[&shot.made.engine];
    let spec = crate::stage::shot::key(shot, image.as_ref(), pose, hashes)?;
    let job = CommandJob::shot(engine, device, shot, picture_file(image));
    let spec = job.key(spec, engine, hashes)?;
    Ok((spec, EngineJob::Command(Box::new(job))))
}

/// The pose video a pose-guided shot follows, read from its `pose` video by `pose_engine`.
pub fn pose(
    source: &crate::manifest::shots::PoseSource,
    engines: &Engines,
    device: Option<Device>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, EngineJob)> {
    let engine = &engines[&source.engine];
    let spec = crate::stage::pose::key(&engine.name, &source.video, hashes)?;
    let job = CommandJob::pose(engine, device, source.video.clone());
    let spec = job.key(spec, engine, hashes)?;
    Ok((spec, EngineJob::Command(Box::new(job))))
}

/// The file a still or shot is given as `{image}` when its picture is a file (a still's
/// is read from the job's input instead).
fn picture_file(image: Option<crate::stage::still::Image>) -> Option<crate::manifest::SourceFile> {
    match image {
        Some(crate::stage::still::Image::File(file)) => Some(file),
        _ => None,
    }
}

/// A b-roll line's clip: the shot `shot` conformed by ffmpeg to `length` at `fps`.
pub fn broll(
    shot: Key,
    length: crate::stage::broll::Length,
    fps: crate::fps::Fps,
) -> Result<(KeySpec, EngineJob)> {
    use crate::stage::broll::Length;
    let spec = crate::stage::broll::clip_key(shot, length, fps)?;
    let frames = match length {
        Length::Frames(frames) => Some(frames),
        Length::Speech(_) => None,
    };
    let engine = crate::engine::broll::BRollClip { frames, fps };
    Ok((spec, EngineJob::BRoll(engine)))
}

/// A b-roll line's speech: silence of exactly its `frames` at `fps`.
pub fn silence(frames: usize, fps: crate::fps::Fps) -> (KeySpec, EngineJob) {
    let spec = crate::stage::broll::silence_key(frames, fps);
    let engine = crate::engine::silence::Silence { frames, fps };
    (spec, EngineJob::Silence(engine))
}

/// Line `line`'s clip, cut by ffmpeg from its two-person shot.
pub fn shot_cut(
    shot: Key,
    speeches: &[Key],
    line: usize,
    fps: crate::fps::Fps,
) -> Result<(KeySpec, EngineJob)> {
    let spec = crate::stage::two_shot::cut_key(shot, speeches, line, fps)?;
    let engine = crate::engine::shot_cut::ShotCut { line, fps };
    Ok((spec, EngineJob::ShotCut(engine)))
}
