//! The `acorn` binary.
fn main() {
    println!("acorn {}", env!("CARGO_PKG_VERSION"));
}
