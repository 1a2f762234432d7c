//! User-space enrichment of events: what the kernel side captures as numbers or cgroup names, turned
//! into what an investigator reads (container ids, user and group names, host and process identity).
pub mod container;
pub mod identity;
pub mod process;
pub mod users;
