//! Integration tests, benchmarks and examples for kiln live in tests/, benches/ and examples/.
