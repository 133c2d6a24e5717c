fn main() {
    eprintln!("xstack: not built yet");
    std::process::exit(1);
}
