//! Reading and writing media: WAV through hound, images through `image`, video frames in
//! and out of ffmpeg (through ffmpeg-sidecar, the system binary), and ffprobe for the checks
//! that run before anything is moved into the cache.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::process;

/// Mono speech samples in [-1, 1].
#[derive(Clone, Debug)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Audio {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// Reads a PCM WAV (any bit depth, any channel count, downmixed to mono).
pub fn read_wav(path: &Path) -> std::result::Result<Audio, String> {
    let mut reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    // hound accepts a rate of 0 (and divides by it when the WAV is written back).
    if spec.sample_rate < 8000 {
        return Err(format!(
            "its sample rate is {} Hz; speech needs at least 8000 Hz",
            spec.sample_rate
        ));
    }
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(wav_error)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(wav_error)?
        }
    };
    let samples: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if samples.is_empty() {
        return Err("it holds no audio samples".into());
    }
    Ok(Audio {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// hound's error in words about the file: its "Failed to read enough bytes." (an I/O error
/// of kind Other) means the file ends before the audio its header announces.
fn wav_error(e: hound::Error) -> String {
    match e {
        hound::Error::IoError(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.to_string() == "Failed to read enough bytes." =>
        {
            "it is cut short: the file ends before the audio its header announces".to_string()
        }
        e => e.to_string(),
    }
}

/// Writes mono 16-bit PCM.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| Error::Other(format!("cannot write {}: {e}", path.display()));
    let mut writer = hound::WavWriter::create(path, spec).map_err(io)?;
    for sample in &audio.samples {
        writer
            .write_sample((sample.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(io)?;
    }
    writer.finalize().map_err(io)
}

/// Decodes an image upright: turned or mirrored as its EXIF orientation says (a phone
/// stores a portrait photo sideways with orientation 6 or 8; PNG's eXIf chunk too). Every
/// decode of a source image comes here, so the media check, the face track and the clips
/// all see the picture a viewer sees; ffmpeg, which reads backgrounds and stills itself,
/// is told the same by [`upright_filter`].
fn decode_upright<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
) -> image::ImageResult<image::DynamicImage> {
    use image::ImageDecoder;
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = image::DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// An image's EXIF orientation (none for a file without one, or one that cannot be read:
/// its decode reports that).
pub fn image_orientation(path: &Path) -> image::metadata::Orientation {
    use image::ImageDecoder;
    let orientation = || -> image::ImageResult<_> {
        let reader = image::ImageReader::open(path)?.with_guessed_format()?;
        reader.into_decoder()?.orientation()
    };
    orientation().unwrap_or(image::metadata::Orientation::NoTransforms)
}

/// The ffmpeg filters that turn the picture at `path` upright by its EXIF orientation
/// (what [`decode_upright`] does), each followed by a comma; empty when it needs none. The
/// input must be opened with `-noautorotate` before it, so that an ffmpeg that reads the
/// orientation itself does not turn it twice.
pub fn upright_filter(path: &Path) -> &'static str {
    use image::metadata::Orientation;
    match image_orientation(path) {
        Orientation::NoTransforms => "",
        Orientation::Rotate90 => "transpose=clock,",
        Orientation::Rotate180 => "hflip,vflip,",
        Orientation::Rotate270 => "transpose=cclock,",
        Orientation::FlipHorizontal => "hflip,",
        Orientation::FlipVertical => "vflip,",
        Orientation::Rotate90FlipH => "transpose=clock,hflip,",
        Orientation::Rotate270FlipH => "transpose=cclock,hflip,",
    }
}

/// An image's width and height from its header (nothing decoded; before its EXIF
/// orientation, which does not change its longest side); None when it cannot be read.
pub fn image_size(path: &Path) -> Option<(u32, u32)> {
    let reader = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?;
    reader.into_dimensions().ok()
}

/// Writes a frame as a PNG at `to`.
pub fn write_png(frame: &Frame, to: &Path) -> std::result::Result<(), String> {
    let image = image::RgbImage::from_raw(frame.width, frame.height, frame.data.clone())
        .ok_or("a frame's pixels fill it")?;
    image
        .save_with_format(to, image::ImageFormat::Png)
        .map_err(|e| e.to_string())
}

/// Writes the image at `path`, upright (by its EXIF orientation), as a PNG at `to`.
pub fn write_upright_png(path: &Path, to: &Path) -> std::result::Result<(), String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let image = decode_upright(reader).map_err(|e| e.to_string())?;
    image
        .save_with_format(to, image::ImageFormat::Png)
        .map_err(|e| e.to_string())
}

/// Decodes an image (upright, by its EXIF orientation) into an RGB frame with even
/// dimensions (what yuv420p needs).
pub fn read_image(path: &Path) -> std::result::Result<Frame, String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let image = decode_upright(reader).map_err(|e| e.to_string())?.to_rgb8();
    let (width, height) = (image.width() & !1, image.height() & !1);
    if width < 16 || height < 16 {
        return Err(format!("{}x{} is too small", image.width(), image.height()));
    }
    let mut frame = Frame::new(width, height);
    for y in 0..height {
        let row = &image.as_raw()[(y * image.width() * 3) as usize..][..(width * 3) as usize];
        frame.data[(y * width * 3) as usize..][..(width * 3) as usize].copy_from_slice(row);
    }
    Ok(frame)
}

/// The most pixels a side of an image render reads: a larger one would cost hundreds of MB
/// to decode, and the largest video frame is 7680 wide anyway.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Why an image cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageProblem {
    /// Not a PNG or JPEG, damaged, or cut short: the decoder's words.
    Unreadable(String),
    /// Wider or taller than [`MAX_IMAGE_SIDE`] (read from its header, before decoding).
    TooLarge { width: u32, height: u32 },
}

/// Decodes a whole image, upright (by its EXIF orientation), checking its size from its
/// header first; a truncated file fails here, not halfway through a build. Used to check a
/// source image when the folder loads.
pub fn check_image(path: &Path) -> std::result::Result<image::RgbImage, ImageProblem> {
    let unreadable = |e: &dyn std::fmt::Display| ImageProblem::Unreadable(e.to_string());
    let bytes = std::fs::read(path).map_err(|e| unreadable(&e))?;
    let open = || {
        // As `ImageReader::open`: the format from the contents, else from the extension.
        let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes[..]));
        if let Ok(format) = image::ImageFormat::from_path(path) {
            reader.set_format(format);
        }
        reader.with_guessed_format().map_err(|e| unreadable(&e))
    };
    if open()?.format() == Some(image::ImageFormat::Jpeg) && !jpeg_has_its_end(&bytes) {
        // The JPEG decoder fills in what is missing instead of failing.
        let cut = "it is cut short: the JPEG ends before its end-of-image marker";
        return Err(ImageProblem::Unreadable(cut.into()));
    }
    let (width, height) = open()?.into_dimensions().map_err(|e| unreadable(&e))?;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageProblem::TooLarge { width, height });
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    reader.limits(limits);
    Ok(decode_upright(reader)
        .map_err(|e| unreadable(&e))?
        .to_rgb8())
}

/// Whether a JPEG's end-of-image marker (FF D9) follows its last scan (FF DA). Within a
/// scan an FF byte is always followed by 00 or a restart marker, so a file cut short in its
/// image data has none (the last scan, not the first: an EXIF thumbnail is a whole JPEG).
fn jpeg_has_its_end(bytes: &[u8]) -> bool {
    let marker = |m: u8| move |w: &[u8]| w == [0xff, m];
    let Some(scan) = bytes.windows(2).rposition(marker(0xda)) else {
        return false;
    };
    bytes[scan..].windows(2).any(marker(0xd9))
}

/// What ffprobe says about a media file.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub video: Option<StreamInfo>,
    pub audio: Option<StreamInfo>,
    pub format_seconds: f64,
}

#[derive(Clone, Debug, Default)]
pub struct StreamInfo {
    pub codec: String,
    pub seconds: f64,
    pub packets: u64,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub pix_fmt: String,
    /// Audio only.
    pub sample_rate: u32,
    pub channels: u32,
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    duration: Option<String>,
    nb_read_packets: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    pix_fmt: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
}

pub fn probe(path: &Path) -> std::result::Result<Probe, String> {
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-count_packets", "-print_format", "json"])
        .args(["-show_streams", "-show_format"])
        .arg(path);
    let output = process::run(&mut command, "a probe", process::deadline(60.0))
        .map_err(|e| e.to_string())?;
    let raw: RawProbe = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let number = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<f64>().ok());
    let mut probe = Probe {
        format_seconds: raw
            .format
            .as_ref()
            .and_then(|f| number(&f.duration))
            .unwrap_or(0.0),
        ..Probe::default()
    };
    for stream in raw.streams {
        let info = StreamInfo {
            codec: stream.codec_name.clone().unwrap_or_default(),
            seconds: number(&stream.duration).unwrap_or(0.0),
            packets: number(&stream.nb_read_packets).unwrap_or(0.0) as u64,
            width: stream.width.unwrap_or(0),
            height: stream.height.unwrap_or(0),
            fps: stream
                .avg_frame_rate
                .as_deref()
                .and_then(parse_ratio)
                .unwrap_or(0.0),
            pix_fmt: stream.pix_fmt.unwrap_or_default(),
            sample_rate: number(&stream.sample_rate).unwrap_or(0.0) as u32,
            channels: stream.channels.unwrap_or(0),
        };
        match stream.codec_type.as_deref() {
            Some("video") if probe.video.is_none() => probe.video = Some(info),
            Some("audio") if probe.audio.is_none() => probe.audio = Some(info),
            _ => {}
        }
    }
    Ok(probe)
}

/// Probes a file render just made; a failure means the artifact is invalid.
pub fn probe_output(artifact: &str, path: &Path) -> Result<Probe> {
    probe(path).map_err(|detail| invalid(artifact, detail))
}

pub fn invalid(artifact: &str, detail: impl Into<String>) -> Error {
    Error::InvalidOutput {
        artifact: artifact.to_string(),
        detail: detail.into(),
    }
}

fn parse_ratio(ratio: &str) -> Option<f64> {
    let (num, den) = ratio.split_once('/')?;
    let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
    (den > 0.0 && num > 0.0).then_some(num / den)
}

/// A video decoded into frames, at its own frame rate.
pub struct Video {
    pub frames: Vec<Frame>,
    pub fps: f64,
}

/// Decodes every frame of a video (even dimensions, RGB24).
pub fn read_video(path: &Path) -> std::result::Result<Video, String> {
    let mut frames = Vec::new();
    let fps = each_video_frame(path, |frame| frames.push(frame))?;
    Ok(Video { frames, fps })
}

/// Decodes a video frame by frame (even dimensions, RGB24), handing each to `each` as it
/// comes, so a long video need not fit in memory. Returns its frame rate.
pub fn each_video_frame(
    path: &Path,
    mut each: impl FnMut(Frame),
) -> std::result::Result<f64, String> {
    let probe = probe(path)?;
    let fps = probe
        .video
        .as_ref()
        .map(|v| v.fps)
        .filter(|fps| *fps > 0.0)
        .ok_or("it has no video stream")?;
    let mut command = FfmpegCommand::new();
    command
        .hide_banner()
        .arg("-nostdin")
        .input(path)
        .args(["-an", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"])
        .rawvideo();
    process::prepare(command.as_inner_mut());
    command.as_inner_mut().process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| process::missing_or_io("ffmpeg", e).to_string())?;
    let pid = child.as_inner().id();
    let _registration = process::Registration::new(pid);
    // A decoder that makes no progress for a minute is stuck (a corrupt file can spin).
    let watchdog = process::Watchdog::arm(pid as libc::pid_t, process::deadline(STALL_SECONDS));
    let mut decoded = 0usize;
    let mut errors = Vec::new();
    for event in child.iter().map_err(|e| e.to_string())? {
        match event {
            FfmpegEvent::OutputFrame(frame) => {
                watchdog.touch();
                decoded += 1;
                each(Frame::from_rgb(frame.width, frame.height, frame.data))
            }
            FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line)
            | FfmpegEvent::Error(line) => errors.push(line),
            _ => {}
        }
    }
    let watch = watchdog.disarm();
    let status = child.wait().map_err(|e| e.to_string())?;
    if process::interrupted() {
        return Err("interrupted".into());
    }
    if watch == process::Watch::TimedOut {
        return Err(format!(
            "ffmpeg made no progress decoding it for {STALL_SECONDS} s and was stopped"
        ));
    }
    if !status.success() || decoded == 0 {
        return Err(if errors.is_empty() {
            "ffmpeg decoded no frames".to_string()
        } else {
            errors.join("; ")
        });
    }
    Ok(fps)
}

/// Decodes the first audio stream of a media file to mono f32 samples at `rate` Hz
/// (through ffmpeg); a file without audio has none.
pub fn read_audio(path: &Path, rate: u32) -> std::result::Result<Audio, String> {
    let audio = Audio {
        samples: Vec::new(),
        sample_rate: rate,
    };
    if probe(path)?.audio.is_none() {
        return Ok(audio);
    }
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-vn", "-map", "0:a:0", "-ac", "1", "-ar", &rate.to_string()])
        .args(["-f", "f32le", "pipe:1"]);
    let output = process::run(&mut command, "the audio", process::deadline(600.0))
        .map_err(|e| e.to_string())?;
    let samples = (output.stdout.chunks_exact(4))
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Audio { samples, ..audio })
}

/// How long a streaming ffmpeg may go without taking or giving a frame.
const STALL_SECONDS: f64 = 60.0;

/// Streams RGB frames into ffmpeg, which writes an H.264 file.
pub struct VideoEncoder {
    child: ffmpeg_sidecar::child::FfmpegChild,
    stdin: Option<std::process::ChildStdin>,
    stderr: Option<process::Pipe>,
    /// Kills ffmpeg when a frame or the final flush takes too long; `None` once disarmed.
    watchdog: Option<process::Watchdog>,
    _registration: process::Registration,
    width: u32,
    height: u32,
}

impl VideoEncoder {
    pub fn new(
        path: &Path,
        width: u32,
        height: u32,
        fps: crate::fps::Fps,
        crf: u32,
    ) -> Result<VideoEncoder> {
        process::check_interrupted()?;
        let mut command = FfmpegCommand::new();
        command
            .hide_banner()
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{width}x{height}"), "-r", &fps.to_string()])
            .input("-")
            .codec_video("libx264")
            .preset("veryfast")
            .crf(crf)
            .pix_fmt("yuv420p")
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .overwrite()
            .output(path);
        process::prepare(command.as_inner_mut());
        command.as_inner_mut().process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| process::missing_or_io("ffmpeg", e))?;
        let pid = child.as_inner().id();
        let registration = process::Registration::new(pid);
        let watchdog = process::Watchdog::arm(pid as libc::pid_t, process::deadline(STALL_SECONDS));
        let stdin = child.take_stdin();
        let stderr = Some(process::read_in_background(child.take_stderr()));
        drop(process::read_in_background(child.take_stdout()));
        Ok(VideoEncoder {
            child,
            stdin,
            stderr,
            watchdog: Some(watchdog),
            _registration: registration,
            width,
            height,
        })
    }

    pub fn write(&mut self, frame: &Frame) -> Result<()> {
        assert_eq!((frame.width, frame.height), (self.width, self.height));
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(Error::Other("ffmpeg stopped reading frames".into()));
        };
        if let Some(watchdog) = &self.watchdog {
            watchdog.touch();
        }
        if stdin.write_all(&frame.data).is_err() {
            // ffmpeg quit early: report its own words if it failed, else say so.
            self.stdin = None;
            self.finish_inner("a clip")?;
            return Err(Error::Other("ffmpeg stopped reading frames".into()));
        }
        Ok(())
    }

    pub fn finish(mut self, artifact: &str) -> Result<()> {
        self.finish_inner(artifact)
    }

    fn finish_inner(&mut self, artifact: &str) -> Result<()> {
        self.stdin = None;
        if let Some(watchdog) = &self.watchdog {
            watchdog.touch();
        }
        // Wait unreaped, so the watchdog can still stop a flush that hangs.
        let pid = self.child.as_inner().id() as libc::pid_t;
        let waited = process::wait_unreaped(pid);
        let watch = self.watchdog.take().map(process::Watchdog::disarm);
        let status = self
            .child
            .wait()
            .map_err(|e| Error::Other(format!("ffmpeg: {e}")))?;
        waited.map_err(|e| Error::Other(format!("ffmpeg: {e}")))?;
        let log = self
            .stderr
            .take()
            .map(|pipe| pipe.recv_timeout(process::PIPE_GRACE).unwrap_or_default())
            .unwrap_or_default();
        process::check_interrupted()?;
        let status = match watch {
            Some(process::Watch::TimedOut) => {
                format!("stopped after {STALL_SECONDS} s without progress")
            }
            _ if !status.success() => status.to_string(),
            _ => return Ok(()),
        };
        Err(Error::ToolFailed {
            program: "ffmpeg".into(),
            artifact: artifact.into(),
            status,
            log: process::tail(&String::from_utf8_lossy(&log), 20),
        })
    }
}

impl Drop for VideoEncoder {
    fn drop(&mut self) {
        // Disarmed before the child is reaped (the watchdog must never signal a reused pid).
        drop(self.watchdog.take());
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn encoded(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        });
        let mut bytes = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .unwrap();
        bytes
    }

    #[test]
    fn images_are_checked_whole_and_by_size() {
        let dir = tempfile::tempdir().unwrap();
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let bytes = encoded(64, 48, format);
            let whole = write(dir.path(), "whole", &bytes);
            assert_eq!(check_image(&whole).unwrap().dimensions(), (64, 48));
            let cut = write(dir.path(), "cut", &bytes[..bytes.len() * 2 / 3]);
            assert!(
                matches!(check_image(&cut), Err(ImageProblem::Unreadable(_))),
                "{format:?}"
            );
        }
        let jpeg = encoded(64, 48, image::ImageFormat::Jpeg);
        let cut = write(dir.path(), "cut.jpg", &jpeg[..jpeg.len() - 2]);
        assert_eq!(
            check_image(&cut),
            Err(ImageProblem::Unreadable(
                "it is cut short: the JPEG ends before its end-of-image marker".into()
            ))
        );
        let wide = write(
            dir.path(),
            "wide.png",
            &encoded(MAX_IMAGE_SIDE + 1, 2, image::ImageFormat::Png),
        );
        assert_eq!(
            check_image(&wide),
            Err(ImageProblem::TooLarge {
                width: MAX_IMAGE_SIDE + 1,
                height: 2
            })
        );
        let edge = write(
            dir.path(),
            "edge.png",
            &encoded(MAX_IMAGE_SIDE, 2, image::ImageFormat::Png),
        );
        assert!(check_image(&edge).is_ok());
    }
}
