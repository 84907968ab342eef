//! Python packaging: everything between a requirements file and a PEP 751 lockfile.

pub mod build;
pub mod explain;
pub mod export;
pub mod index;
pub mod lenient;
pub mod metadata;
pub mod pylock;
pub mod requirements;
pub mod resolver;
pub mod sdist;
pub mod simple;
pub mod solver;
pub mod target;
pub mod wheel;
pub mod zip_metadata;
