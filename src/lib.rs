//! filespy: a Linux file-write monitor on eBPF.
pub mod event;
pub mod script;
