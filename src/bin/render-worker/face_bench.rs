//! `render bench face VIDEO --reference IMAGE` (run inside `render-worker`, where libtorch
//! is): the installed face landmark model on the portrait and on every frame of a rendered
//! video, and the video's loudness per frame; the figures themselves are
//! `render::face::face_quality`'s. Landmarks are found as a face track finds them (a
//! rustface box, then both facemesh passes, `LoadedModel::facemesh_two_pass`), but per frame
//! and not smoothed over time: jitter and blinks are what is measured.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use crate::libtorch::{Accelerator, LoadedModel};
use render::cli::FaceBenchArgs;
use render::commands;
use render::device::Device;
use render::engine::rustface::FaceDetector;
use render::error::{Error, Result};
use render::face::face_quality;
use render::face::facemesh;
use render::frame::{FaceBox, Frame};
use render::media;

/// Frames decoded, boxed and landmarked at a time (bounds memory on long videos).
const CHUNK: usize = 32;
/// The audio's sample rate for loudness.
const RATE: u32 = 16_000;

type Points = Vec<[f32; 3]>;

pub fn run(args: &FaceBenchArgs) -> i32 {
    commands::exit_code(bench(args))
}

fn bench(args: &FaceBenchArgs) -> Result<i32> {
    let model = render::face_model::installed()
        .as_ref()
        .map_err(|notice| Error::Other(notice.clone()))?;
    let (device, notice) = Device::resolve(&args.device, Accelerator::cuda_devices)
        .map_err(|m| Error::Other(format!("device {m}")))?;
    if let Some(notice) = notice {
        eprintln!("render: {notice}");
    }
    let loaded = LoadedModel::load(
        render::face_model::NAME,
        &model.file,
        Accelerator::new(device),
    )?;
    let landmarks = |frames: &[Frame], boxes: &[FaceBox]| -> Result<Vec<Option<Points>>> {
        let context = facemesh::context_inputs(frames, boxes);
        let (output, _) = loaded.facemesh_two_pass(&context, frames.len(), model.batch_size)?;
        let track = facemesh::to_track(&output, boxes, false);
        Ok(track.into_iter().map(|l| l.points).collect())
    };

    let image = media::read_image(&args.reference).map_err(|e| unreadable(&args.reference, e))?;
    let face = FaceDetector::new()
        .detect(&image)
        .ok_or_else(|| Error::Other(format!("no face in {}", args.reference.display())))?;
    let reference = landmarks(std::slice::from_ref(&image), &[face])?
        .pop()
        .flatten()
        .ok_or_else(|| {
            Error::Other(format!(
                "the landmark model does not trust the face in {}",
                args.reference.display()
            ))
        })?;

    let mut frames: Vec<Option<Points>> = Vec::new();
    let mut covers: Vec<Option<[f64; 2]>> = Vec::new();
    let mut pending: Vec<Frame> = Vec::new();
    let mut previous: Option<FaceBox> = None;
    let mut failed: Option<Error> = None;
    let mut flush = |pending: &mut Vec<Frame>,
                     frames: &mut Vec<Option<Points>>,
                     covers: &mut Vec<Option<[f64; 2]>>|
     -> Result<()> {
        let chunk = std::mem::take(pending);
        let detected: Vec<Option<FaceBox>> = chunk
            .par_iter()
            .map_init(FaceDetector::new, |detector, frame| detector.detect(frame))
            .collect();
        // A missed detection keeps the previous frame's box.
        let boxes: Vec<Option<FaceBox>> = detected
            .into_iter()
            .map(|found| {
                previous = found.or(previous);
                previous
            })
            .collect();
        let with_box: Vec<usize> = (0..chunk.len()).filter(|&i| boxes[i].is_some()).collect();
        let mut found = vec![None; chunk.len()];
        if !with_box.is_empty() {
            let picked: Vec<Frame> = with_box.iter().map(|&i| chunk[i].clone()).collect();
            let picked_boxes: Vec<FaceBox> = with_box.iter().map(|&i| boxes[i].unwrap()).collect();
            for (i, points) in with_box.iter().zip(landmarks(&picked, &picked_boxes)?) {
                found[*i] = points;
            }
        }
        covers.extend((chunk.iter().zip(&found)).map(|(frame, points)| {
            let points = points.as_ref()?;
            Some(face_quality::eye_cover(&image, &reference, frame, points))
        }));
        frames.extend(found);
        Ok(())
    };
    let fps = media::each_video_frame(&args.video, |frame| {
        if failed.is_some() {
            return;
        }
        pending.push(frame);
        if pending.len() == CHUNK {
            if let Err(error) = flush(&mut pending, &mut frames, &mut covers) {
                failed = Some(error);
            }
        }
    })
    .map_err(|e| unreadable(&args.video, e))?;
    if let Some(error) = failed {
        return Err(error);
    }
    flush(&mut pending, &mut frames, &mut covers)?;
    drop(loaded);

    let audio = media::read_audio(&args.video, RATE).map_err(|e| unreadable(&args.video, e))?;
    let loudness = face_quality::loudness(&audio.samples, RATE, fps, frames.len());
    let report = face_quality::report(&reference, &frames, &covers, &loudness, fps);

    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    let table = format!(
        "face bench: {} against {}\n{}",
        args.video.display(),
        args.reference.display(),
        face_quality::table(&report)
    );
    if to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    if let Some(path) = &args.json {
        let mut json = serde_json::to_value(&report).expect("the report serialises");
        json["video"] = args.video.display().to_string().into();
        json["reference_image"] = args.reference.display().to_string().into();
        let mut text = serde_json::to_string_pretty(&json).expect("the report serialises");
        text.push('\n');
        if to_stdout {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::Other(format!("cannot write the JSON: {e}")))?;
        } else {
            std::fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))?;
        }
    }
    Ok(0)
}

fn unreadable(path: &Path, problem: String) -> Error {
    Error::Other(format!("cannot read {}: {problem}", path.display()))
}
