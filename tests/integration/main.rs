//! scoregate's integration tests: one test binary, one module per area.

mod active;
mod approvals;
mod architecture;
mod bad_input;
mod calibration;
mod cli;
mod consumer_example;
mod consumers;
mod cycle;
mod naive_replay;
mod outcome;
mod page;
mod partitioned;
mod pruning;
mod readings;
mod readme;
mod replay;
mod s3_cli;
mod schemas;
mod store_suite;
mod support;
mod sweep;
mod tamper;
mod writers;
