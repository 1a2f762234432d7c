//! filespy: a Linux file-activity monitor on eBPF.
pub mod append;
pub mod attach;
pub mod bpf;
pub mod btf;
pub mod cli;
pub mod clock;
pub mod enrich;
pub mod event;
pub mod kinds;
pub mod lineage;
pub mod loss;
pub mod monitor;
pub mod monitors;
pub mod offsets;
pub mod open_files;
pub mod output;
pub mod perf_ring;
pub mod perfbuf;
pub mod pipeline;
pub mod privileges;
pub mod probes;
pub mod proc_cache;
#[cfg(test)]
mod python_oracle;
pub mod record;
pub mod report;
pub mod rules;
pub mod safe_open;
pub mod script;
pub mod sink;
pub mod sys;
pub mod syscall_layout;
#[cfg(test)]
mod test_dir;
pub mod uuid;
