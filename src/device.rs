//! Where models run, as the coordinator sees it: the `device` setting resolved to `cpu` or
//! `cuda:N`, and the precision that follows from it (FP16 on CUDA, FP32 on the CPU), which
//! enters the keys of model artifacts. The coordinator does not link libtorch, so it asks a
//! worker how many CUDA devices there are — and only when the machine has an NVIDIA driver
//! at all, so a CPU-only machine never starts a worker to learn that.

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

#[cfg(test)]
mod tests {
    use super::*;

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
