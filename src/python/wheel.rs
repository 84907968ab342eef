//! Distribution filenames: wheels (the binary distribution format spec, formerly PEP 427, with
//! PEP 425 compressed tag sets) and source distributions (`{name}-{version}.tar.gz`).
//!
//! The index gives us filenames, not versions: every candidate version is derived from here.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilenameError {
    #[error(
        "`{0}` is not a wheel filename (expected name-version[-build]-python-abi-platform.whl)"
    )]
    NotAWheel(String),
    #[error("`{filename}` has an invalid package name or version")]
    InvalidPart { filename: String },
    #[error("`{0}` is not a source distribution filename")]
    NotAnSdist(String),
}

/// A parsed wheel filename. The tag sets stay as the file name writes them
/// (`py2.py3-none-any`, PEP 425's compressed form) in one string: an index page lists
/// thousands of wheels, and three vectors of strings per wheel cost more than the file's other
/// fields together. [`WheelFilename::tags`] expands them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WheelFilename {
    pub name: PackageName,
    pub version: Version,
    pub build: Option<Box<str>>,
    /// `python-abi-platform`, each part a `.`-separated set.
    tag_text: Box<str>,
}

impl WheelFilename {
    fn tag_part(&self, index: usize) -> &str {
        self.tag_text.split('-').nth(index).unwrap_or_default()
    }

    /// The Python tags (`py2`, `py3`, `cp312`).
    pub fn python(&self) -> impl Iterator<Item = &str> {
        self.tag_part(0).split('.')
    }

    /// The ABI tags (`none`, `abi3`, `cp312`).
    pub fn abi(&self) -> impl Iterator<Item = &str> {
        self.tag_part(1).split('.')
    }

    /// The platform tags (`any`, `manylinux_2_17_x86_64`).
    pub fn platform(&self) -> impl Iterator<Item = &str> {
        self.tag_part(2).split('.')
    }

    /// Every (python, abi, platform) triple the wheel declares.
    pub fn tags(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python().flat_map(move |python| {
            self.abi()
                .flat_map(move |abi| self.platform().map(move |platform| (python, abi, platform)))
        })
    }
}

impl FromStr for WheelFilename {
    type Err = FilenameError;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| FilenameError::NotAWheel(filename.to_string()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags_at) = match parts.as_slice() {
            [n, v, _, _, _] => (*n, *v, None, 2),
            [n, v, b, _, _, _] => (*n, *v, Some(Box::from(*b)), 3),
            _ => return Err(FilenameError::NotAWheel(filename.to_string())),
        };
        if parts[tags_at..]
            .iter()
            .any(|part| part.split('.').any(str::is_empty))
        {
            return Err(FilenameError::NotAWheel(filename.to_string()));
        }
        let invalid = || FilenameError::InvalidPart {
            filename: filename.to_string(),
        };
        Ok(WheelFilename {
            name: PackageName::from_str(name).map_err(|_| invalid())?,
            version: Version::from_str(version).map_err(|_| invalid())?,
            build,
            tag_text: parts[tags_at..].join("-").into_boxed_str(),
        })
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name.as_dist_info_name(), self.version)?;
        if let Some(build) = &self.build {
            write!(f, "-{build}")?;
        }
        write!(f, "-{}.whl", self.tag_text)
    }
}

/// A source distribution filename. Legacy sdists may carry dashes in the name, so the version
/// is whatever follows the last dash that parses as one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdistFilename {
    pub name: PackageName,
    pub version: Version,
}

const SDIST_SUFFIXES: [&str; 5] = [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz"];

/// Whether `filename` ends as a source distribution archive does.
pub fn has_sdist_suffix(filename: &str) -> bool {
    SDIST_SUFFIXES
        .iter()
        .any(|suffix| filename.ends_with(suffix))
}

impl FromStr for SdistFilename {
    type Err = FilenameError;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let not_sdist = || FilenameError::NotAnSdist(filename.to_string());
        let stem = SDIST_SUFFIXES
            .iter()
            .find_map(|suffix| filename.strip_suffix(suffix))
            .ok_or_else(not_sdist)?;
        for (index, _) in stem.match_indices('-').rev() {
            let (name, version) = (&stem[..index], &stem[index + 1..]);
            if let (Ok(name), Ok(version)) =
                (PackageName::from_str(name), Version::from_str(version))
            {
                return Ok(SdistFilename { name, version });
            }
        }
        Err(not_sdist())
    }
}

impl SdistFilename {
    /// Parses an sdist name of a known project: the name is the prefix that normalises to
    /// `project` (as uv reads it), so `PyMuPDF-1.14.19.post-2.tar.gz` is 1.14.19.post2 of
    /// pymupdf, not version 2 of a project called `pymupdf-1.14.19.post`. A file of another
    /// project is an error.
    pub fn parse_for(filename: &str, project: &PackageName) -> Result<Self, FilenameError> {
        let not_sdist = || FilenameError::NotAnSdist(filename.to_string());
        let stem = SDIST_SUFFIXES
            .iter()
            .find_map(|suffix| filename.strip_suffix(suffix))
            .ok_or_else(not_sdist)?;
        for (index, _) in stem.match_indices('-') {
            let (name, version) = (&stem[..index], &stem[index + 1..]);
            if PackageName::from_str(name).is_ok_and(|name| name == *project) {
                let version = Version::from_str(version).map_err(|_| not_sdist())?;
                return Ok(SdistFilename {
                    name: project.clone(),
                    version,
                });
            }
        }
        Err(not_sdist())
    }
}

/// What a file on the index is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DistFilename {
    Wheel(WheelFilename),
    Sdist(SdistFilename),
}

impl DistFilename {
    /// `None` for files that are neither (eggs, `.exe` installers, signatures): they are ignored.
    pub fn parse(filename: &str) -> Option<Self> {
        if filename.ends_with(".whl") {
            WheelFilename::from_str(filename).ok().map(Self::Wheel)
        } else {
            SdistFilename::from_str(filename).ok().map(Self::Sdist)
        }
    }

    pub fn version(&self) -> &Version {
        match self {
            Self::Wheel(wheel) => &wheel.version,
            Self::Sdist(sdist) => &sdist.version,
        }
    }

    pub fn name(&self) -> &PackageName {
        match self {
            Self::Wheel(wheel) => &wheel.name,
            Self::Sdist(sdist) => &sdist.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wheel_filenames() {
        let cases = [
            (
                "six-1.16.0-py2.py3-none-any.whl",
                "six",
                "1.16.0",
                None,
                2,
                1,
                1,
            ),
            (
                "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "numpy",
                "2.1.0",
                None,
                1,
                1,
                2,
            ),
            (
                "Foo_Bar-1.0-1build-py3-none-any.whl",
                "foo-bar",
                "1.0",
                Some("1build"),
                1,
                1,
                1,
            ),
        ];
        for (filename, name, version, build, python, abi, platform) in cases {
            let wheel = WheelFilename::from_str(filename).unwrap();
            assert_eq!(wheel.name.as_ref(), name, "{filename}");
            assert_eq!(wheel.version.to_string(), version);
            assert_eq!(wheel.build.as_deref(), build);
            assert_eq!(
                (
                    wheel.python().count(),
                    wheel.abi().count(),
                    wheel.platform().count()
                ),
                (python, abi, platform)
            );
            assert_eq!(wheel.to_string().to_lowercase(), filename.to_lowercase());
            assert_eq!(wheel.tags().count(), python * abi * platform);
        }
    }

    #[test]
    fn rejects_malformed_wheel_filenames() {
        for filename in [
            "six.whl",
            "six-1.0-py3-none.whl",
            "a-b-c-d-e-f-g.whl",
            "six-1.0.tar.gz",
            "six-1.0-py3..py2-none-any.whl",
        ] {
            assert!(WheelFilename::from_str(filename).is_err(), "{filename}");
        }
        assert!(matches!(
            WheelFilename::from_str("six-notaversion!-py3-none-any.whl"),
            Err(FilenameError::InvalidPart { .. })
        ));
    }

    #[test]
    fn parses_sdist_filenames_with_dashes_in_the_name() {
        let sdist = SdistFilename::from_str("python-dateutil-2.9.0.post0.tar.gz").unwrap();
        assert_eq!(sdist.name.as_ref(), "python-dateutil");
        assert_eq!(sdist.version.to_string(), "2.9.0.post0");
        assert!(SdistFilename::from_str("README.txt").is_err());
        let pymupdf = PackageName::from_str("pymupdf").unwrap();
        let legacy = SdistFilename::parse_for("PyMuPDF-1.14.19.post-2.tar.gz", &pymupdf).unwrap();
        assert_eq!(legacy.version.to_string(), "1.14.19.post2");
        assert_eq!(
            SdistFilename::from_str("PyMuPDF-1.14.19.post-2.tar.gz")
                .unwrap()
                .version
                .to_string(),
            "2",
            "without the project name the last dash wins"
        );
        let dateutil = PackageName::from_str("python-dateutil").unwrap();
        assert_eq!(
            SdistFilename::parse_for("python-dateutil-2.9.0.post0.tar.gz", &dateutil)
                .unwrap()
                .version
                .to_string(),
            "2.9.0.post0"
        );
        assert!(SdistFilename::parse_for("other-1.0.tar.gz", &pymupdf).is_err());
        assert!(DistFilename::parse("foo-1.0-py2.7.egg").is_none());
    }
}
