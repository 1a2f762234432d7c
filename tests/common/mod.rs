//! Helpers shared by integration tests (each test crate includes this with `mod common;`).
pub mod schema;
