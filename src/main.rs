fn main() {
    std::process::exit(gryt::cli::main());
}
