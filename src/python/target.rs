//! Targets: the interpreter and platform a lock is for, which may differ from the host.
//!
//! Platform names follow uv's `--python-platform` syntax (`x86_64-manylinux_2_36`,
//! `aarch64-unknown-linux-musl`, `x86_64-apple-darwin`, ...). The compatible tag list is ordered
//! as `packaging.tags.sys_tags()` orders it (PEP 425, PEP 600 manylinux, PEP 656 musllinux), and
//! the marker environment is the one PEP 508 markers see on the target, never on the host.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

use super::wheel::WheelFilename;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "unknown Python platform `{0}` (expected e.g. x86_64-manylinux_2_36, aarch64-manylinux_2_28, x86_64-unknown-linux-musl, aarch64-apple-darwin, x86_64-pc-windows-msvc)"
    )]
    UnknownPlatform(String),
    #[error("invalid Python version `{0}` (expected e.g. 3.12 or 3.12.4)")]
    InvalidPythonVersion(String),
    #[error("Python version `{0}` is not supported: targets are CPython 3.7 or newer")]
    UnsupportedPythonVersion(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    I686,
    Armv7l,
    Ppc64le,
    S390x,
}

impl Arch {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "x86_64" | "amd64" => Self::X86_64,
            "aarch64" | "arm64" => Self::Aarch64,
            "i686" | "x86" => Self::I686,
            "armv7l" | "armv7" => Self::Armv7l,
            "ppc64le" | "powerpc64le" => Self::Ppc64le,
            "s390x" => Self::S390x,
            _ => return None,
        })
    }

    /// The name in Linux platform tags and in `platform_machine` on Linux.
    pub fn linux_name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
            Self::I686 => "i686",
            Self::Armv7l => "armv7l",
            Self::Ppc64le => "ppc64le",
            Self::S390x => "s390x",
        }
    }

    /// The oldest glibc that manylinux defines for the architecture (PEP 600).
    fn manylinux_floor(self) -> u32 {
        match self {
            Self::X86_64 | Self::I686 => 5,
            _ => 17,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Manylinux { major: u32, minor: u32 },
    Musllinux { major: u32, minor: u32 },
    Macos { major: u32, minor: u32 },
    Windows,
}

/// An operating system + architecture, e.g. `x86_64-manylinux_2_36`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetPlatform {
    pub os: Os,
    pub arch: Arch,
}

/// The defaults uv uses for the generic names: manylinux2014 for `*-unknown-linux-gnu`,
/// musllinux_1_2 for musl and macOS 13.0 (the oldest non-EOL release) for Darwin.
const DEFAULT_GLIBC_MINOR: u32 = 17;
const DEFAULT_MACOS: (u32, u32) = (13, 0);

impl FromStr for TargetPlatform {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || TargetError::UnknownPlatform(text.to_string());
        let shorthand = match text {
            "linux" => Some("x86_64-manylinux_2_17"),
            "macos" => Some("aarch64-apple-darwin"),
            "windows" => Some("x86_64-pc-windows-msvc"),
            _ => None,
        };
        if let Some(expanded) = shorthand {
            return Self::from_str(expanded);
        }
        let (arch, rest) = text.split_once('-').ok_or_else(unknown)?;
        let arch = Arch::parse(arch).ok_or_else(unknown)?;
        let os = match rest {
            "unknown-linux-gnu" => Os::Manylinux {
                major: 2,
                minor: DEFAULT_GLIBC_MINOR,
            },
            "unknown-linux-musl" => Os::Musllinux { major: 1, minor: 2 },
            "apple-darwin" => Os::Macos {
                major: DEFAULT_MACOS.0,
                minor: DEFAULT_MACOS.1,
            },
            "pc-windows-msvc" => Os::Windows,
            "manylinux2014" => Os::Manylinux {
                major: 2,
                minor: 17,
            },
            "manylinux2010" => Os::Manylinux {
                major: 2,
                minor: 12,
            },
            "manylinux1" => Os::Manylinux { major: 2, minor: 5 },
            other => {
                let (kind, version) = other.split_once('_').ok_or_else(unknown)?;
                let (major, minor) = version.split_once('_').ok_or_else(unknown)?;
                let major: u32 = major.parse().map_err(|_| unknown())?;
                let minor: u32 = minor.parse().map_err(|_| unknown())?;
                match kind {
                    "manylinux" if major == 2 && minor >= arch.manylinux_floor() => {
                        Os::Manylinux { major, minor }
                    }
                    "musllinux" if major == 1 => Os::Musllinux { major, minor },
                    "macos" if major >= 10 => Os::Macos { major, minor },
                    _ => return Err(unknown()),
                }
            }
        };
        if matches!(os, Os::Windows) && !matches!(arch, Arch::X86_64 | Arch::Aarch64 | Arch::I686) {
            return Err(unknown());
        }
        if matches!(os, Os::Macos { .. }) && !matches!(arch, Arch::X86_64 | Arch::Aarch64) {
            return Err(unknown());
        }
        Ok(TargetPlatform { os, arch })
    }
}

impl fmt::Display for TargetPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arch = self.arch.linux_name();
        match self.os {
            Os::Manylinux { major, minor } => write!(f, "{arch}-manylinux_{major}_{minor}"),
            Os::Musllinux { major, minor } => write!(f, "{arch}-musllinux_{major}_{minor}"),
            Os::Macos { major, minor } => write!(f, "{arch}-macos_{major}_{minor}"),
            Os::Windows => write!(f, "{arch}-pc-windows-msvc"),
        }
    }
}

impl TargetPlatform {
    /// Platform tags, most specific first.
    pub fn platform_tags(&self) -> Vec<String> {
        let arch = self.arch.linux_name();
        let mut tags = Vec::new();
        match self.os {
            Os::Manylinux { minor, .. } => {
                for glibc_minor in (self.arch.manylinux_floor()..=minor).rev() {
                    tags.push(format!("manylinux_2_{glibc_minor}_{arch}"));
                    // Legacy aliases sit right after the PEP 600 name they stand for.
                    let legacy = match glibc_minor {
                        17 => Some("manylinux2014"),
                        12 => Some("manylinux2010"),
                        5 => Some("manylinux1"),
                        _ => None,
                    };
                    if let Some(legacy) = legacy {
                        let legacy_archs: &[Arch] = match glibc_minor {
                            17 => &[
                                Arch::X86_64,
                                Arch::I686,
                                Arch::Aarch64,
                                Arch::Armv7l,
                                Arch::Ppc64le,
                                Arch::S390x,
                            ],
                            _ => &[Arch::X86_64, Arch::I686],
                        };
                        if legacy_archs.contains(&self.arch) {
                            tags.push(format!("{legacy}_{arch}"));
                        }
                    }
                }
                tags.push(format!("linux_{arch}"));
            }
            Os::Musllinux { minor, .. } => {
                for musl_minor in (0..=minor).rev() {
                    tags.push(format!("musllinux_1_{musl_minor}_{arch}"));
                }
                tags.push(format!("linux_{arch}"));
            }
            Os::Macos { major, minor } => tags.extend(macos_platform_tags(self.arch, major, minor)),
            Os::Windows => tags.push(
                match self.arch {
                    Arch::X86_64 => "win_amd64",
                    Arch::Aarch64 => "win_arm64",
                    _ => "win32",
                }
                .to_string(),
            ),
        }
        tags
    }

    fn marker_values(&self) -> (&'static str, &'static str, &'static str, &'static str) {
        // (os_name, sys_platform, platform_system, platform_machine)
        match self.os {
            Os::Manylinux { .. } | Os::Musllinux { .. } => {
                ("posix", "linux", "Linux", self.arch.linux_name())
            }
            Os::Macos { .. } => (
                "posix",
                "darwin",
                "Darwin",
                match self.arch {
                    Arch::Aarch64 => "arm64",
                    _ => "x86_64",
                },
            ),
            Os::Windows => (
                "nt",
                "win32",
                "Windows",
                match self.arch {
                    Arch::X86_64 => "AMD64",
                    Arch::Aarch64 => "ARM64",
                    _ => "x86",
                },
            ),
        }
    }
}

/// macOS platform tags as `packaging.tags.mac_platforms` lists them.
fn macos_platform_tags(arch: Arch, major: u32, minor: u32) -> Vec<String> {
    let formats: &[&str] = match arch {
        Arch::Aarch64 => &["arm64", "universal2"],
        _ => &[
            "x86_64",
            "intel",
            "fat64",
            "fat32",
            "universal2",
            "universal",
        ],
    };
    let mut tags = Vec::new();
    if major >= 11 {
        for version_major in (11..=major).rev() {
            let version_minor = if version_major == major { minor } else { 0 };
            for format in formats {
                tags.push(format!("macosx_{version_major}_{version_minor}_{format}"));
            }
        }
    }
    let top_minor = if major >= 11 { 16 } else { minor };
    match arch {
        Arch::Aarch64 => {
            for version_minor in (4..=top_minor).rev() {
                tags.push(format!("macosx_10_{version_minor}_universal2"));
            }
        }
        _ => {
            for version_minor in (4..=top_minor).rev() {
                for format in formats {
                    tags.push(format!("macosx_10_{version_minor}_{format}"));
                }
            }
        }
    }
    tags
}

/// A CPython version; `3.12` means `3.12.0` where a full version is needed, as uv assumes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl FromStr for PythonVersion {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || TargetError::InvalidPythonVersion(text.to_string());
        let mut parts = text.trim().split('.');
        let major = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let minor = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let patch = match parts.next() {
            Some(p) => Some(p.parse().map_err(|_| invalid())?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(invalid());
        }
        if major != 3 || minor < 7 {
            return Err(TargetError::UnsupportedPythonVersion(text.to_string()));
        }
        Ok(PythonVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

impl PythonVersion {
    pub fn full_version(&self) -> Version {
        Version::new([
            u64::from(self.major),
            u64::from(self.minor),
            u64::from(self.patch.unwrap_or(0)),
        ])
    }
}

/// One interpreter on one platform: what a lock is resolved for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub python_version: PythonVersion,
    pub platform: TargetPlatform,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cp{} on {}", self.python_version, self.platform)
    }
}

impl Target {
    pub fn new(python_version: &str, platform: &str) -> Result<Self, TargetError> {
        Ok(Target {
            python_version: python_version.parse()?,
            platform: platform.parse()?,
        })
    }

    /// The PEP 508 environment the target's interpreter reports.
    pub fn marker_environment(&self) -> MarkerEnvironment {
        let (os_name, sys_platform, platform_system, platform_machine) =
            self.platform.marker_values();
        let full = self.python_version.full_version().to_string();
        let short = format!(
            "{}.{}",
            self.python_version.major, self.python_version.minor
        );
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system,
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform,
        })
        .expect("versions built from integers parse")
    }

    /// A PEP 508 marker that is true on this target and tells it apart from other targets
    /// (as far as markers can: they cannot see the glibc version).
    pub fn marker_expression(&self) -> String {
        let (_, sys_platform, _, platform_machine) = self.platform.marker_values();
        format!(
            "python_version == '{}.{}' and sys_platform == '{sys_platform}' and platform_machine == '{platform_machine}'",
            self.python_version.major, self.python_version.minor
        )
    }

    /// Compatible tags, most preferred first, as `packaging.tags.sys_tags()` yields them for
    /// CPython.
    pub fn tags(&self) -> Tags {
        let minor = self.python_version.minor;
        let interpreter = format!("cp3{minor}");
        let platforms = self.platform.platform_tags();
        let mut ordered: Vec<(String, String, String)> = Vec::new();
        let push_all = |python: &str, abi: &str, ordered: &mut Vec<_>| {
            for platform in &platforms {
                ordered.push((python.to_string(), abi.to_string(), platform.clone()));
            }
        };
        push_all(&interpreter, &interpreter, &mut ordered);
        push_all(&interpreter, "abi3", &mut ordered);
        push_all(&interpreter, "none", &mut ordered);
        for older in (2..minor).rev() {
            push_all(&format!("cp3{older}"), "abi3", &mut ordered);
        }
        let mut py_range = vec![format!("py3{minor}"), "py3".to_string()];
        py_range.extend((0..minor).rev().map(|m| format!("py3{m}")));
        for python in &py_range {
            push_all(python, "none", &mut ordered);
        }
        ordered.push((interpreter.clone(), "none".into(), "any".into()));
        for python in &py_range {
            ordered.push((python.clone(), "none".into(), "any".into()));
        }
        let mut priority: TagMap = HashMap::new();
        for (rank, (python, abi, platform)) in ordered.into_iter().enumerate() {
            priority
                .entry(platform)
                .or_default()
                .entry(python)
                .or_default()
                .entry(abi)
                .or_insert(rank as u32);
        }
        Tags { priority }
    }
}

/// platform -> python -> abi -> rank: nested so a lookup borrows `&str`s and allocates nothing
/// (ranking runs over every file of every project for every target).
type TagMap = HashMap<String, HashMap<String, HashMap<String, u32>>>;

/// The set of tags a target accepts, each with its rank (lower is better).
#[derive(Debug, Clone)]
pub struct Tags {
    priority: TagMap,
}

impl Tags {
    /// The best rank among the wheel's tags, or `None` when it cannot be installed on the target.
    pub fn rank(&self, wheel: &WheelFilename) -> Option<u32> {
        wheel
            .tags()
            .filter_map(|(python, abi, platform)| {
                self.priority.get(platform)?.get(python)?.get(abi).copied()
            })
            .min()
    }

    pub fn is_compatible(&self, wheel: &WheelFilename) -> bool {
        self.rank(wheel).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(name: &str) -> WheelFilename {
        name.parse().unwrap()
    }

    #[test]
    fn parses_uv_platform_names() {
        let cases = [
            ("x86_64-manylinux_2_36", "x86_64-manylinux_2_36"),
            ("aarch64-manylinux_2_28", "aarch64-manylinux_2_28"),
            ("x86_64-unknown-linux-gnu", "x86_64-manylinux_2_17"),
            ("x86_64-manylinux2014", "x86_64-manylinux_2_17"),
            ("x86_64-unknown-linux-musl", "x86_64-musllinux_1_2"),
            ("aarch64-apple-darwin", "aarch64-macos_13_0"),
            ("x86_64-pc-windows-msvc", "x86_64-pc-windows-msvc"),
            ("linux", "x86_64-manylinux_2_17"),
        ];
        for (input, display) in cases {
            let platform: TargetPlatform = input.parse().unwrap();
            assert_eq!(platform.to_string(), display, "{input}");
        }
        for bad in [
            "x86_64",
            "sparc-manylinux_2_17",
            "aarch64-manylinux_2_5",
            "x86_64-manylinux_3_1",
            "riscv-linux",
        ] {
            assert!(bad.parse::<TargetPlatform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn manylinux_chain_includes_older_glibc_and_legacy_aliases() {
        let tags = TargetPlatform::from_str("x86_64-manylinux_2_36")
            .unwrap()
            .platform_tags();
        assert_eq!(tags[0], "manylinux_2_36_x86_64");
        let position = |t: &str| tags.iter().position(|x| x == t).unwrap();
        assert_eq!(
            position("manylinux2014_x86_64"),
            position("manylinux_2_17_x86_64") + 1
        );
        assert!(tags.contains(&"manylinux1_x86_64".to_string()));
        assert_eq!(tags.last().unwrap(), "linux_x86_64");
        let arm = TargetPlatform::from_str("aarch64-manylinux_2_28")
            .unwrap()
            .platform_tags();
        assert!(!arm.iter().any(|t| t.contains("manylinux_2_16")));
        assert!(arm.contains(&"manylinux2014_aarch64".to_string()));
    }

    #[test]
    fn ranks_wheels_for_a_cpython_target() {
        let target = Target::new("3.12", "x86_64-manylinux_2_36").unwrap();
        let tags = target.tags();
        let native =
            wheel("numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let abi3 = wheel("cryptography-43.0.0-cp39-abi3-manylinux_2_28_x86_64.whl");
        let pure = wheel("six-1.16.0-py2.py3-none-any.whl");
        assert!(tags.rank(&native).unwrap() < tags.rank(&abi3).unwrap());
        assert!(tags.rank(&abi3).unwrap() < tags.rank(&pure).unwrap());
        for incompatible in [
            "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "numpy-2.1.0-cp312-cp312-manylinux_2_39_x86_64.whl",
            "numpy-2.1.0-cp312-cp312-musllinux_1_2_x86_64.whl",
            "numpy-2.1.0-cp312-cp312-manylinux_2_17_aarch64.whl",
            "numpy-2.1.0-cp312-cp312-win_amd64.whl",
            "futures-3.0-py2-none-any.whl",
            "onnx-1.0-cp313-abi3-manylinux_2_17_x86_64.whl",
        ] {
            assert!(!tags.is_compatible(&wheel(incompatible)), "{incompatible}");
        }
    }

    #[test]
    fn macos_and_windows_tags() {
        let mac = Target::new("3.11", "aarch64-apple-darwin").unwrap().tags();
        assert!(mac.is_compatible(&wheel("x-1-cp311-cp311-macosx_11_0_arm64.whl")));
        assert!(mac.is_compatible(&wheel("x-1-cp311-cp311-macosx_10_9_universal2.whl")));
        assert!(!mac.is_compatible(&wheel("x-1-cp311-cp311-macosx_14_0_arm64.whl")));
        assert!(!mac.is_compatible(&wheel("x-1-cp311-cp311-macosx_10_9_x86_64.whl")));
        let win = Target::new("3.11", "x86_64-pc-windows-msvc")
            .unwrap()
            .tags();
        assert!(win.is_compatible(&wheel("x-1-cp311-cp311-win_amd64.whl")));
        assert!(!win.is_compatible(&wheel("x-1-cp311-cp311-win32.whl")));
    }

    #[test]
    fn marker_environment_is_the_targets_not_the_hosts() {
        let target = Target::new("3.11", "aarch64-manylinux_2_28").unwrap();
        let env = target.marker_environment();
        let requirement: pep508_rs::Requirement =
            "foo ; platform_machine == 'aarch64' and python_full_version < '3.12'"
                .parse()
                .unwrap();
        assert!(requirement.evaluate_markers(&env, &[]));
        let windows = Target::new("3.12", "x86_64-pc-windows-msvc").unwrap();
        let requirement: pep508_rs::Requirement =
            "foo ; sys_platform == 'win32' and os_name == 'nt'"
                .parse()
                .unwrap();
        assert!(requirement.evaluate_markers(&windows.marker_environment(), &[]));
        assert!(!requirement.evaluate_markers(&env, &[]));
    }

    #[test]
    fn rejects_bad_python_versions() {
        assert!(matches!(
            "3".parse::<PythonVersion>(),
            Err(TargetError::InvalidPythonVersion(_))
        ));
        assert!(matches!(
            "2.7".parse::<PythonVersion>(),
            Err(TargetError::UnsupportedPythonVersion(_))
        ));
        assert_eq!(
            "3.12.4".parse::<PythonVersion>().unwrap().to_string(),
            "3.12.4"
        );
    }
}
