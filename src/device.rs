//! Where models run, as the coordinator sees it: the `device` setting resolved to `cpu` or
//! `cuda:N`, and the precision that follows from it (FP16 on CUDA, FP32 on the CPU), which
//! enters the keys of model artifacts. The coordinator does not link libtorch, so it asks a
//! worker how many CUDA devices there are — and only when the machine has an NVIDIA driver
//! at all, so a CPU-only machine never starts a worker to learn that.
//!
//! Then the lanes a build runs its GPU jobs on ([`lanes`]): one per card (the cards and
//! their memory as `nvidia-smi` lists them, narrowed by `CUDA_VISIBLE_DEVICES` and
//! `[render] gpus`/`devices`), times `lanes_per_gpu`; on a machine without CUDA, `lanes`
//! lanes on the CPU. Which lane ran a job never enters a key: every lane of a build has the
//! same precision, so the objects are the same on one lane or eight.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A device models run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// FP16 on CUDA (half the memory, tensor cores); FP32 on the CPU, where half is slow.
    pub fn precision(self) -> &'static str {
        if self.is_cuda() {
            "fp16"
        } else {
            "fp32"
        }
    }

    /// `auto` picks CUDA when there is a GPU and falls back to the CPU with a notice;
    /// `cuda:N` without CUDA is an error rather than a silent 50× slowdown.
    /// `cuda_devices` is asked only when the answer matters.
    pub fn resolve(
        setting: &str,
        cuda_devices: impl FnOnce() -> usize,
    ) -> Result<(Device, Option<String>), String> {
        match setting {
            "cpu" => Ok((Device::Cpu, None)),
            "auto" => Ok(if cuda_devices() > 0 {
                (Device::Cuda(0), None)
            } else {
                (
                    Device::Cpu,
                    Some("no CUDA device found; models run on the CPU in FP32".into()),
                )
            }),
            other => {
                let index: usize = other
                    .strip_prefix("cuda:")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("`{other}` is not a device"))?;
                let count = cuda_devices();
                if count == 0 {
                    return Err(format!("`{other}` was asked for but CUDA is not available"));
                }
                if index >= count {
                    return Err(format!(
                        "`{other}` was asked for but only {count} CUDA device(s) exist"
                    ));
                }
                Ok((Device::Cuda(index), None))
            }
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Device, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("`{s}` is not a device")),
        }
    }
}

impl Serialize for Device {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Device, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Whether this machine has an NVIDIA driver loaded; without one libtorch sees no CUDA
/// device, so there is no need to start a worker to ask.
pub fn nvidia_driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
        || std::path::Path::new("/dev/nvidiactl").exists()
}

/// What an engine or a model declares it needs of a card's memory (`vram = "20G"`), and
/// where, so a declaration no card can hold is reported at its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vram {
    pub bytes: u64,
    /// The file it is written in, as messages name it.
    pub file: String,
    /// The value's byte range in that file.
    pub at: (usize, usize),
}

/// A GPU as the lanes see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    /// Its index in this process's CUDA numbering (`cuda:N`).
    pub ordinal: usize,
    /// What `CUDA_VISIBLE_DEVICES` must say for a program to see this card alone.
    pub id: String,
    /// Its memory, as the driver reports it (None when unknown).
    pub memory_bytes: Option<u64>,
}

/// One lane: where its jobs run, one at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneSpec {
    pub index: usize,
    pub device: Device,
    /// The card it runs on (None on the CPU).
    pub card: Option<Card>,
}

/// How `[render]` narrows the lanes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaneSettings {
    /// `gpus = N`: the first N cards.
    pub gpus: Option<usize>,
    /// `devices = ["cuda:0", "cuda:2"]`: these cards.
    pub devices: Option<Vec<usize>>,
    /// `lanes_per_gpu = K` (default 1): small models sharing a large card.
    pub per_gpu: Option<usize>,
    /// `lanes = N` (default 1): model jobs at once where there is no GPU.
    pub cpu: Option<usize>,
}

/// The lanes of a build whose models run on `device`. `cards` is asked only on CUDA. A
/// card asked for by `devices` that does not exist is an error (its words; the caller
/// points at the key).
pub fn lanes(
    device: Device,
    settings: &LaneSettings,
    cards: impl FnOnce() -> Vec<Card>,
) -> Result<Vec<LaneSpec>, String> {
    let specs = match device {
        Device::Cpu => (0..settings.cpu.unwrap_or(1).max(1))
            .map(|index| LaneSpec {
                index,
                device: Device::Cpu,
                card: None,
            })
            .collect(),
        Device::Cuda(asked) => {
            let cards = cards();
            let chosen: Vec<Card> = match (&settings.devices, settings.gpus) {
                (Some(devices), _) => {
                    let mut chosen = Vec::new();
                    for &ordinal in devices {
                        let card =
                            cards.iter().find(|c| c.ordinal == ordinal).ok_or_else(|| {
                                format!(
                                "`cuda:{ordinal}` was asked for but only {} CUDA device(s) exist",
                                cards.len()
                            )
                            })?;
                        chosen.push(card.clone());
                    }
                    chosen
                }
                (None, Some(gpus)) => cards.iter().take(gpus).cloned().collect(),
                // `device = "cuda:N"` alone: that card; `auto`: every card.
                (None, None) if asked > 0 => cards
                    .iter()
                    .filter(|c| c.ordinal == asked)
                    .cloned()
                    .collect(),
                (None, None) => cards,
            };
            let chosen = if chosen.is_empty() {
                // libtorch sees the card but nvidia-smi did not say: one lane, size unknown.
                vec![Card {
                    ordinal: asked,
                    id: asked.to_string(),
                    memory_bytes: None,
                }]
            } else {
                chosen
            };
            let per_gpu = settings.per_gpu.unwrap_or(1).max(1);
            (chosen.iter())
                .flat_map(|card| (0..per_gpu).map(move |_| card.clone()))
                .enumerate()
                .map(|(index, card)| LaneSpec {
                    index,
                    device: Device::Cuda(card.ordinal),
                    card: Some(card),
                })
                .collect()
        }
    };
    Ok(specs)
}

/// The machine's cards as `nvidia-smi` lists them (`RENDER_NVIDIA_SMI` names another
/// program: tests give a fake one), in CUDA's numbering: `CUDA_VISIBLE_DEVICES` (a list of
/// indices) picks and orders them. Empty when there is no `nvidia-smi` or it cannot say.
pub fn cards() -> Vec<Card> {
    let program = std::env::var_os("RENDER_NVIDIA_SMI").unwrap_or_else(|| "nvidia-smi".into());
    let mut command = std::process::Command::new(program);
    command.args([
        "--query-gpu=index,memory.total",
        "--format=csv,noheader,nounits",
    ]);
    let Ok(output) =
        crate::process::run(&mut command, "nvidia-smi", crate::process::deadline(30.0))
    else {
        return Vec::new();
    };
    parse_cards(
        &String::from_utf8_lossy(&output.stdout),
        std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref(),
    )
}

/// `nvidia-smi`'s CSV (index, MiB) in CUDA's numbering under `visible`.
fn parse_cards(csv: &str, visible: Option<&str>) -> Vec<Card> {
    let listed: Vec<(String, Option<u64>)> = csv
        .lines()
        .filter_map(|line| {
            let (index, mib) = line.split_once(',')?;
            let index = index.trim();
            index.parse::<usize>().ok()?;
            Some((
                index.to_string(),
                mib.trim().parse::<u64>().ok().map(|m| m << 20),
            ))
        })
        .collect();
    let order: Vec<&(String, Option<u64>)> = match visible {
        // Only indices are understood here; UUIDs and MIG names keep nvidia-smi's order.
        Some(visible)
            if visible
                .split(',')
                .all(|v| v.trim().parse::<usize>().is_ok()) =>
        {
            (visible.split(','))
                .filter_map(|v| listed.iter().find(|(id, _)| id == v.trim()))
                .collect()
        }
        _ => listed.iter().collect(),
    };
    (order.into_iter().enumerate())
        .map(|(ordinal, (id, memory))| Card {
            ordinal,
            id: id.clone(),
            memory_bytes: *memory,
        })
        .collect()
}

/// `"20G"`, `"512M"`, `"1.5GiB"`, `"80 GB"` → bytes (binary units: a card's 80 GB is
/// 80 GiB as drivers count it).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return None,
    };
    let bytes = number * (1u64 << shift) as f64;
    (number.is_finite() && bytes > 0.0 && bytes < 1e18).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_follow_cuda_visible_devices() {
        let csv = "0, 81559\n1, 81559\n2, 40960\n";
        let all = parse_cards(csv, None);
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].memory_bytes, Some(40960 << 20));
        let picked = parse_cards(csv, Some("2,0"));
        assert_eq!(
            picked
                .iter()
                .map(|c| (c.ordinal, c.id.as_str()))
                .collect::<Vec<_>>(),
            [(0, "2"), (1, "0")]
        );
        assert_eq!(parse_cards("No devices were found\n", None), []);
    }

    #[test]
    fn lanes_from_settings() {
        let cards = || parse_cards("0, 81920\n1, 81920\n2, 81920\n", None);
        let devices = |lanes: Vec<LaneSpec>| -> Vec<String> {
            lanes.iter().map(|l| l.device.to_string()).collect()
        };
        let auto = LaneSettings::default();
        assert_eq!(
            devices(lanes(Device::Cuda(0), &auto, cards).unwrap()),
            ["cuda:0", "cuda:1", "cuda:2"]
        );
        let two = LaneSettings {
            gpus: Some(2),
            per_gpu: Some(2),
            ..auto.clone()
        };
        assert_eq!(
            devices(lanes(Device::Cuda(0), &two, cards).unwrap()),
            ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
        );
        let picked = LaneSettings {
            devices: Some(vec![2]),
            ..auto.clone()
        };
        assert_eq!(
            devices(lanes(Device::Cuda(0), &picked, cards).unwrap()),
            ["cuda:2"]
        );
        let missing = LaneSettings {
            devices: Some(vec![5]),
            ..auto.clone()
        };
        assert_eq!(
            lanes(Device::Cuda(0), &missing, cards).unwrap_err(),
            "`cuda:5` was asked for but only 3 CUDA device(s) exist"
        );
        assert_eq!(
            devices(lanes(Device::Cuda(1), &auto, cards).unwrap()),
            ["cuda:1"]
        );
        let cpu = LaneSettings {
            cpu: Some(3),
            ..auto
        };
        assert_eq!(
            devices(lanes(Device::Cpu, &cpu, || unreachable!()).unwrap()),
            ["cpu", "cpu", "cpu"]
        );
        // libtorch sees a card nvidia-smi did not list: one lane of unknown size.
        let one = lanes(Device::Cuda(0), &LaneSettings::default(), Vec::new).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].card.as_ref().unwrap().memory_bytes, None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20G"), Some(20 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("80 GB"), Some(80 << 30));
        assert_eq!(parse_size("twenty"), None);
        assert_eq!(parse_size("20"), None);
        assert_eq!(parse_size("0G"), None);
    }

    #[test]
    fn resolves_settings_with_and_without_cuda() {
        assert_eq!(
            Device::resolve("cpu", || panic!("not asked")),
            Ok((Device::Cpu, None))
        );
        assert_eq!(
            Device::resolve("auto", || 0),
            Ok((
                Device::Cpu,
                Some("no CUDA device found; models run on the CPU in FP32".into())
            ))
        );
        assert_eq!(Device::resolve("auto", || 2), Ok((Device::Cuda(0), None)));
        assert_eq!(
            Device::resolve("cuda:0", || 0).unwrap_err(),
            "`cuda:0` was asked for but CUDA is not available"
        );
        assert_eq!(
            Device::resolve("cuda:1", || 1).unwrap_err(),
            "`cuda:1` was asked for but only 1 CUDA device(s) exist"
        );
        assert_eq!(
            Device::resolve("tpu", || 1).unwrap_err(),
            "`tpu` is not a device"
        );
        assert_eq!(Device::Cuda(1).precision(), "fp16");
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        assert_eq!(Device::Cuda(3).to_string(), "cuda:3");
    }
}
