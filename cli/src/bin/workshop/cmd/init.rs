//! `workshop init`: writes `.workshop/<NAME>.yaml`, offline.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use workshop_api::definition::{DEFAULT_BASE, DefinitionError, SdkName, SdkRecord, WorkshopFile};

use crate::context::Ctx;

/// Root definition files that make a project single-workshop.
const ROOT_FILES: [&str; 2] = ["workshop.yaml", ".workshop.yaml"];

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Comma-separated SDKs, each `<name>` or `<name>/<channel>` (e.g. "go,uv/latest/stable")
    #[arg(long, value_delimiter = ',')]
    pub sdks: Vec<String>,
    /// Base image of the workshop: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04 or debian@12
    ///
    /// Accepted bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04 (those of the
    /// reference Workshop) and debian@12. Where workshopd gets the image depends on its
    /// WORKSHOP_IMAGE_SERVER:
    ///
    /// - "local" (the default): the LXD image alias of the same name in LXD's default project.
    ///   scripts/setup-lxd.sh points all five at one offline Debian 12 image it builds with
    ///   debootstrap, so every base is served without a network.
    ///
    /// - "simplestreams:<url>" or "lxd:<url>": copied from that image server on first use,
    ///   ubuntu@<version> as the alias <version> (as on https://cloud-images.ubuntu.com/releases)
    ///   and debian@12 as debian/12 (as on https://images.linuxcontainers.org).
    #[arg(long, default_value = DEFAULT_BASE, value_name = "BASE")]
    pub base: String,
    /// Name of the new workshop
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `workshop init`.
pub fn run(ctx: &Ctx, args: &InitArgs) -> anyhow::Result<()> {
    let path = create(&ctx.project_dir()?, args)?;
    workshop_client::outln!("{}", crate::messages::init_created(&args.name, &path));
    Ok(())
}

/// `--sdks` entries as records: the part after the first `/` is the channel (none when
/// empty). Entries are trimmed; a blank one is an invalid name, as the reference's, except
/// for `--sdks ""`, which asks for none.
fn parse_sdks(args: &[String]) -> anyhow::Result<Vec<SdkRecord>> {
    let mut sdks = Vec::new();
    if let [only] = args
        && only.trim().is_empty()
    {
        return Ok(sdks);
    }
    for arg in args.iter().map(|a| a.trim()) {
        let (name, channel) = match arg.split_once('/') {
            Some((name, channel)) => (name, Some(channel).filter(|c| !c.is_empty())),
            None => (arg, None),
        };
        SdkName::parse(name).map_err(anyhow::Error::msg)?;
        sdks.push(SdkRecord::new(name, channel));
    }
    Ok(sdks)
}

/// Validates and writes the definition; returns its path.
fn create(project: &Path, args: &InitArgs) -> anyhow::Result<PathBuf> {
    let file = WorkshopFile::new(&args.name, &args.base, parse_sdks(&args.sdks)?);
    // The reference's message alone: the key is the option or argument given.
    file.validate().map_err(|e| match e {
        DefinitionError::Invalid { message, .. } => anyhow::Error::msg(message),
        e => e.into(),
    })?;
    for root in ROOT_FILES {
        let path = project.join(root);
        if path.exists() {
            let dest = match root_name(&path) {
                Some(name) => format!(".workshop/{name}.yaml"),
                None => ".workshop/".to_string(),
            };
            bail!(crate::messages::init_root_exists(root, &dest));
        }
    }
    let dir = project.join(".workshop");
    let path = dir.join(format!("{}.yaml", args.name));
    if path.exists() {
        bail!("cannot init: {:?} workshop already exists at {:?}", args.name, path.display().to_string());
    }
    if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) && !dir.is_dir() {
        bail!("cannot create {:?}: not a directory", dir.display().to_string());
    }
    let reason = workshop_api::os_error::reason;
    fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {:?}: {}", dir.display().to_string(), reason(&e)))?;
    fs::write(&path, file.to_yaml())
        .map_err(|e| anyhow::anyhow!("cannot write {:?}: {}", path.display().to_string(), reason(&e)))?;
    Ok(path)
}

/// The `name:` of a definition file, if it can be read.
fn root_name(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    value.get("name")?.as_str().filter(|n| !n.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, sdks: &[&str], base: &str) -> InitArgs {
        InitArgs { sdks: sdks.iter().map(|s| s.to_string()).collect(), base: base.into(), name: name.into() }
    }

    #[test]
    fn scaffold_with_sdk_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), &args("dev", &["ollama/cpu/stable"], "ubuntu@22.04")).unwrap();
        assert_eq!(path, dir.path().join(".workshop/dev.yaml"));
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            "name: dev\nbase: ubuntu@22.04\nsdks:\n  - name: ollama\n    channel: cpu/stable\n"
        );
    }

    #[test]
    fn default_base_and_no_sdks() {
        let dir = tempfile::tempdir().unwrap();
        let path = create(dir.path(), &args("dev", &[], DEFAULT_BASE)).unwrap();
        assert_eq!(fs::read_to_string(path).unwrap(), "name: dev\nbase: ubuntu@24.04\n");
    }

    #[test]
    fn several_sdks_with_and_without_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path =
            create(dir.path(), &args("dev", &["ollama/vulkan/stable", "jupyter"], "ubuntu@24.04")).unwrap();
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains("  - name: ollama\n    channel: vulkan/stable\n  - name: jupyter\n"), "{text}");
    }

    #[test]
    fn blank_entries_and_empty_channels() {
        let dir = tempfile::tempdir().unwrap();
        for sdks in [&["go", "  ", "uv"][..], &["go", ""]] {
            let err = create(dir.path(), &args("dev", sdks, DEFAULT_BASE)).unwrap_err();
            assert_eq!(err.to_string(), r#"invalid SDK name """#, "{sdks:?}");
        }
        assert!(!dir.path().join(".workshop").exists());
        // `--sdks ""` asks for none; `go/` has no channel.
        let path = create(dir.path(), &args("dev", &[""], DEFAULT_BASE)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "name: dev\nbase: ubuntu@24.04\n");
        let path = create(dir.path(), &args("other", &[" go/ "], DEFAULT_BASE)).unwrap();
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            "name: other\nbase: ubuntu@24.04\nsdks:\n  - name: go\n"
        );
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".workshop"), "").unwrap();
        let err = create(dir.path(), &args("dev", &[], DEFAULT_BASE)).unwrap_err();
        assert!(err.to_string().ends_with(r#"/.workshop": not a directory"#), "{err}");
    }

    #[test]
    fn refuses_next_to_a_root_definition() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("workshop.yaml"), "name: main\nbase: ubuntu@24.04\n").unwrap();
        let err = create(dir.path(), &args("dev", &[], DEFAULT_BASE)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot init: \"workshop.yaml\" already exists, move it to .workshop/main.yaml first to manage multiple workshops"
        );
        assert!(!dir.path().join(".workshop").exists());
    }

    #[test]
    fn refuses_an_existing_workshop() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), &args("dev", &[], DEFAULT_BASE)).unwrap();
        let err = create(dir.path(), &args("dev", &[], DEFAULT_BASE)).unwrap_err();
        assert!(err.to_string().starts_with("cannot init: \"dev\" workshop already exists at "), "{err}");
    }

    #[test]
    fn invalid_names_and_bases() {
        let dir = tempfile::tempdir().unwrap();
        let err = create(dir.path(), &args("Dev", &[], DEFAULT_BASE)).unwrap_err();
        assert!(
            err.to_string().contains(
                "a workshop's name must: (1) start with a letter, (2) only include digits, lowercase letters, and hyphens joining them"
            ),
            "{err}"
        );
        assert_eq!(
            create(dir.path(), &args("dev", &[], "ubuntu@99.04")).unwrap_err().to_string(),
            "base \"ubuntu@99.04\" not supported; valid bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, \
             ubuntu@26.04, debian@12"
        );
        assert!(create(dir.path(), &args("dev", &["Bad_Name"], DEFAULT_BASE)).is_err());
        assert!(create(dir.path(), &args("dev", &["go/nonsense-risk/x/y/z"], DEFAULT_BASE)).is_err());
        assert!(!dir.path().join(".workshop").exists());
    }

    #[test]
    fn help_lists_every_base_and_where_it_comes_from() {
        use clap::CommandFactory;
        let mut cmd = crate::Cli::command();
        let init = cmd.find_subcommand_mut("init").unwrap();
        let squeeze = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = squeeze(init.render_long_help().to_string());
        for base in workshop_api::definition::SUPPORTED_BASES {
            assert!(help.contains(base), "{base} missing from:\n{help}");
        }
        for source in ["WORKSHOP_IMAGE_SERVER", "scripts/setup-lxd.sh", "simplestreams:<url>", "debian/12"] {
            assert!(help.contains(source), "{source} missing from:\n{help}");
        }
        let short = squeeze(init.render_help().to_string());
        assert!(
            short.contains("ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, ubuntu@26.04 or debian@12"),
            "{short}"
        );
    }
}
