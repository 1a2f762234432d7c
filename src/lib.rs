//! filespy: a Linux file-write monitor on eBPF.
pub mod attach;
pub mod btf;
pub mod clock;
pub mod event;
pub mod output;
pub mod script;
pub mod sys;
pub mod uuid;
