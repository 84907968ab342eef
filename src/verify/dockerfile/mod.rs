//! The Dockerfile audit: a parser for what BuildKit accepts, and the air-gap rules.

pub mod parser;
