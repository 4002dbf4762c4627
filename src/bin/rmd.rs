//! `rmd`: dataset import and artifact-store tooling.

use clap::{Parser, Subcommand};
use rmdnet::cli::{self, DataArgs, OutputArgs, StoreArgs};
use rmdnet::store_cmd::{self, StoreCommand};
use std::process::ExitCode;

/// rmdnet: learning with noisy labels by relation modeling and distillation.
///
/// Pipeline stages are separate binaries (rmd-noise, ...); this tool imports datasets and
/// manages the content-hashed artifact store they share.
#[derive(Debug, Parser)]
#[command(name = "rmd", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and maintain the artifact store.
    Store {
        #[command(subcommand)]
        verb: StoreCommand,
    },
    /// Import a dataset into the store (downloading it when missing and allowed); prints its key.
    Dataset {
        /// cifar10, cifar100, mnist or fashion-mnist.
        name: String,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn main() -> ExitCode {
    cli::run(|| {
        let args = Cli::parse();
        match args.command {
            Command::Store { verb } => store_cmd::run(verb, &args.store),
            Command::Dataset { name, data, output } => {
                let store = args.store.open()?;
                let a = rmd_data::resolve_dataset(
                    &store,
                    &name,
                    &data.sources(output.progress()),
                    &cli::code_identity(false),
                )?;
                output.say(format!(
                    "dataset {} ({} train / {} test images, {} classes)",
                    a.manifest.metrics["name"].as_str().unwrap_or("?"),
                    a.manifest.metrics["n_train"],
                    a.manifest.metrics["n_test"],
                    a.manifest.metrics["num_classes"],
                ));
                output.print_result(&a);
                Ok(())
            }
        }
    })
}
