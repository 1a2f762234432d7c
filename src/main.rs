fn main() {
    println!("filespy {}", env!("CARGO_PKG_VERSION"));
}
