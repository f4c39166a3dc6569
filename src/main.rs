fn main() {
    std::process::exit(render::run());
}
