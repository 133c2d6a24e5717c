//! Builds xstack's XDP program (`src/driver/xdp/redirect.bpf.c`) into an eBPF object that
//! the binary embeds, when the `xdp` feature is on. Needs clang with the BPF target; the
//! libbpf headers come from libbpf-sys (the `bpf` links key gives DEP_BPF_INCLUDE).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    const SRC: &str = "src/driver/xdp/redirect.bpf.c";
    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_XDP").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("redirect.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let mut cmd = Command::new(&clang);
    cmd.args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c"]);
    if let Some(inc) = std::env::var_os("DEP_BPF_INCLUDE") {
        cmd.arg("-I").arg(inc);
    }
    // Debian keeps <asm/types.h> under the multiarch directory, which -target bpf does
    // not search.
    for dir in [
        "/usr/include/x86_64-linux-gnu",
        "/usr/include/aarch64-linux-gnu",
    ] {
        if std::path::Path::new(dir).exists() {
            cmd.arg("-idirafter").arg(dir);
        }
    }
    cmd.arg(SRC).arg("-o").arg(&obj);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {clang} to build the XDP program ({e}): install clang (scripts/setup.sh), or build without the `xdp` feature")
    });
    if !status.success() {
        panic!("{clang} failed to build {SRC} ({status})");
    }
}
