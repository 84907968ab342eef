//! airlock prepares air-gapped builds.
//!
//! A tour of the crate:
//! - [`python`]: requirements files, wheel filenames and target tags, the Simple API, the
//!   resolver (generic over a package source) and PEP 751 lockfiles.
//! - [`net`]: the HTTP client, retry policy and HTTP cache; the only module that touches reqwest.
//! - [`config`]: `airlock.toml`, read and checked.
//! - [`settings`]: flags, the environment, airlock.toml and the locks' record, merged into
//!   the one request each command runs with.
//! - [`fetch`]: the `fetch` operation: locks to a verified, flat wheelhouse.
//! - [`lock`]: the `resolve` operation: inputs to lockfiles, `--check`, fingerprints.
//! - [`reporter`]: how the library reports progress without printing.
//! - [`sandbox`]: running a program with no network (`unshare -n`, or `-rn` unprivileged).

pub mod bundle;
pub mod config;
pub mod dates;
pub mod debian;
pub mod digest;
pub mod fetch;
pub mod lock;
pub mod net;
pub mod python;
pub mod reporter;
pub mod sandbox;
pub mod sbom;
pub mod serve;
pub mod settings;
pub mod verify;
