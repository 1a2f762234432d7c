//! filespy's kernel programs: the record layout, the shared emitters and each kind's programs.
//!
//! Programs are generated for the running kernel: struct offsets come from BTF, the filter
//! configuration is baked in as immediates, and loops are unrolled by Rust.
pub mod gen;
pub mod kinds;
pub mod layout;
mod precheck;
pub mod register;
pub mod typed;
