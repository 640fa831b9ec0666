use clap::Parser;

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
