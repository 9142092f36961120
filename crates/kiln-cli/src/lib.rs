//! The `kiln` command line as a library: the binary's subcommands, and the `.npy` reader and
//! writer that tests and examples share.
pub mod cache_admin;
pub mod cli;
pub mod common;
pub mod compile;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod grad;
pub mod inspect;
pub mod npy;
pub mod progress;
pub mod run;
