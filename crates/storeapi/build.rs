//! Generates the StoreAPI and Info types and services from `proto/`, with
//! the vendored protoc so the build needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Cargo's variable at run time, not `env!`: a build script binary can
    // be shared by checkouts of the crate in other directories.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../../proto");
    let files = [
        "store/labelpb/types.proto",
        "store/storepb/types.proto",
        "store/storepb/rpc.proto",
        "info/infopb/rpc.proto",
    ];
    let paths: Vec<std::path::PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for p in &paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // Written by hand (`src/wire.rs`): read and written straight from
        // and into the model's labels and chunks.
        .extern_path(".thanos.Series", "crate::wire::Series")
        .build_server(true)
        .build_client(true)
        .compile_with_config(config, &paths, &[root])?;
    Ok(())
}
