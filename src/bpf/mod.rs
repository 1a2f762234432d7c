//! filespy's kernel programs: the record layout and the code generator.
pub mod codegen;
pub mod layout;
