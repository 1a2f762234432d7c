//! filespy: a Linux file-write monitor on eBPF.

pub mod attach;
pub mod sys;
