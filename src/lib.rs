//! Integration tests, benchmarks and examples for kiln live in tests/, benches/ and examples/;
//! [`train`] is the model the training example, its PyTorch comparison and its benchmark share.

pub mod train;
