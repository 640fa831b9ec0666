use clap::Parser;

/// jemalloc rather than glibc's malloc: the token endpoint allocates many small short-lived
/// buffers (HTTP, JSON, the RSA signer's temporaries); glibc's free/consolidate took ~7% of the
/// provider's CPU in a profile of the refresh grant (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = dingtalk_oidc::cli::Cli::parse();
    match dingtalk_oidc::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
