//! LXD client benchmark (filled in below as operations land).
fn main() {
    eprintln!("lxd-bench: not yet implemented");
}
