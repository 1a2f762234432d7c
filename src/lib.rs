//! filespy: a Linux file-write monitor on eBPF.
pub mod cli;
pub mod loss;
pub mod privileges;
pub mod sink;
