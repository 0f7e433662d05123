//! `acorn version`: Kubo's `ipfs version` (`-n` for the number only, `--all`).

use argh::{ArgsInfo, FromArgs};

use super::{print, Context};

/// Show acorn version information.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "version")]
pub struct VersionCmd {
    /// only show the version number
    #[argh(switch, short = 'n')]
    pub number: bool,
    /// show all version information
    #[argh(switch)]
    pub all: bool,
}

/// The crate version (`0.1.0`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl VersionCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if super::json_out(ctx) {
            // Kubo's `version` JSON (the RPC API's answer).
            let v = crate::core_api::settings::VersionInfo::this_build();
            let j = serde_json::json!({
                "Version": v.version,
                "Commit": "",
                "Repo": v.repo,
                "System": v.system,
                "Golang": "",
            });
            return print(&format!("{j}\n"));
        }
        print(&self.render())
    }

    fn render(&self) -> String {
        if self.all {
            format!(
                "Acorn version: {VERSION}\nSystem version: {}/{}\n",
                std::env::consts::ARCH,
                std::env::consts::OS
            )
        } else if self.number {
            format!("{VERSION}\n")
        } else {
            format!("acorn version {VERSION}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let v = |number, all| VersionCmd { number, all }.render();
        assert_eq!(v(false, false), format!("acorn version {VERSION}\n"));
        assert_eq!(v(true, false), format!("{VERSION}\n"));
        assert!(v(false, true).starts_with(&format!("Acorn version: {VERSION}\nSystem version: ")));
    }
}
