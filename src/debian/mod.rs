//! Debian packages: versions (Policy §5.6.12), deb822 stanzas, relations, Packages indexes.
//! The apt side of airlock is being built here; see the README for what works today.

pub mod aptlock;
pub mod closure;
pub mod deb;
pub mod deb822;
pub mod packages;
pub mod publish;
pub mod release;
pub mod remote;
pub mod signature;
pub mod signing;
pub mod sources;
pub mod version;
