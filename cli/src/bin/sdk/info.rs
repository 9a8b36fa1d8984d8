//! `sdk info <SDK>`: the SDK's metadata, the revisions the Store offers in each channel (for
//! the host's architecture unless `--arch` says otherwise, for every base unless `--base`
//! names one) and the workshops it is installed in.

use std::collections::HashMap;

use clap::Args;
use workshop_api::definition::{RISKS, SUPPORTED_BASES};
use workshop_api::sdk::{ARCHITECTURES, host_architecture};
use workshop_api::sdks::{SdkFullInfo, SdkInstalled, SdkRevision};
use workshop_client::Client;
use workshop_client::style::contract_home;
use workshop_client::table::align;

use crate::Format;
use crate::marks::{Marks, byte_size, dash, date};

/// Flags of `info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The SDK
    #[arg(value_name = "SDK")]
    pub name: String,
    /// Show SDKs compatible with a specific base
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(SUPPORTED_BASES))]
    pub base: Option<String>,
    /// Show SDKs compatible with a different architecture (or "all")
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(architectures()))]
    pub arch: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Every architecture, or an SDK built for every one.
const ALL: &str = "all";

fn architectures() -> Vec<&'static str> {
    std::iter::once(ALL).chain(ARCHITECTURES).collect()
}

/// Which revisions and installations are shown.
#[derive(Debug, Clone)]
pub struct View {
    /// Only this base (and those for every base); the BASE column is then left out.
    pub base: Option<String>,
    /// Only this architecture (and `all`); `all` shows every one, in an ARCH column.
    pub arch: String,
}

impl View {
    fn shows(&self, base: &str, arch: &str) -> bool {
        let base_ok = match &self.base {
            Some(wanted) => base.is_empty() || base == wanted,
            None => true,
        };
        base_ok && (self.arch == ALL || arch == ALL || arch == self.arch)
    }
}

pub fn run(client: &Client, args: &InfoArgs, marks: &Marks) -> anyhow::Result<()> {
    let info = client.sdk_info(&args.name)?;
    if let Some(data) = args.format.data(&info)? {
        workshop_client::out!("{data}");
        return Ok(());
    }
    let view = View {
        base: args.base.clone(),
        arch: args.arch.clone().unwrap_or_else(|| host_architecture().into()),
    };
    let home = std::env::var("HOME").ok().filter(|h| !h.is_empty() && h != "/");
    workshop_client::out!("{}", render(&info, &view, marks, home.as_deref()));
    Ok(())
}

/// Builds the lines of the output; `bold` collects the indices of lines shown in bold.
struct Out {
    lines: Vec<String>,
    bold: Vec<usize>,
}

impl Out {
    fn line(&mut self, text: String) {
        self.lines.push(text);
    }

    fn bold(&mut self, text: String) {
        self.bold.push(self.lines.len());
        self.lines.push(text);
    }
}

pub fn render(info: &SdkFullInfo, view: &View, marks: &Marks, home: Option<&str>) -> String {
    let mut out = Out { lines: Vec::new(), bold: Vec::new() };
    out.line(format!("name:\t{}", info.name));
    if let Some(publisher) = &info.publisher {
        out.line(format!("publisher:\t{}", marks.long_publisher(publisher)));
    }
    if !info.license.is_empty() {
        out.line(format!("license:\t{}", info.license));
    }
    if !info.website.is_empty() {
        out.line(format!("website:\t{}", info.website));
    }
    let description = info.description.trim_end_matches('\n');
    if !description.is_empty() {
        out.line(String::new());
        for line in description.lines() {
            out.line(line.replace('\t', " "));
        }
    }
    channels(&mut out, info, view, marks);
    installed(&mut out, info, view, home);
    let text = align(&out.lines, &[]);
    if !marks.color {
        return text;
    }
    text.lines()
        .enumerate()
        .map(
            |(i, line)| {
                if out.bold.contains(&i) { format!("{}\n", marks.bold(line)) } else { format!("{line}\n") }
            },
        )
        .collect()
}

/// The revisions shown, by channel, and the tracks in the Store's order. Within a channel:
/// by operating system, newest series first, then architecture, then newest revision.
fn by_channel<'a>(
    revisions: &'a [SdkRevision],
    view: &View,
) -> (Vec<&'a str>, HashMap<&'a str, Vec<&'a SdkRevision>>) {
    let mut tracks: Vec<&str> = Vec::new();
    let mut channels: HashMap<&str, Vec<&SdkRevision>> = HashMap::new();
    for revision in revisions.iter().filter(|r| view.shows(&r.base, &r.arch)) {
        if !tracks.contains(&revision.track.as_str()) {
            tracks.push(&revision.track);
        }
        channels.entry(&revision.channel).or_default().push(revision);
    }
    for list in channels.values_mut() {
        list.sort_by(|a, b| {
            let (os_a, series_a) = a.base.split_once('@').unwrap_or((&a.base, ""));
            let (os_b, series_b) = b.base.split_once('@').unwrap_or((&b.base, ""));
            os_a.cmp(os_b)
                .then_with(|| series_b.cmp(series_a))
                .then_with(|| a.arch.cmp(&b.arch))
                .then_with(|| b.revision.cmp(&a.revision))
        });
    }
    (tracks, channels)
}

fn channels(out: &mut Out, info: &SdkFullInfo, view: &View, marks: &Marks) {
    let (tracks, channels) = by_channel(&info.channels, view);
    if tracks.is_empty() {
        return;
    }
    let shown = channels.values().flatten();
    let rev_width = shown.clone().map(|r| r.revision.chars().count()).max().unwrap_or(0).max(3);
    let size_width = shown.map(|r| byte_size(r.download_size).chars().count()).max().unwrap_or(0).max(4);
    let row = |channel: &str, version: &str, build: &str, base: &str, arch: &str, rev: &str, size: &str| {
        let mut cells = vec![format!("  {channel}"), version.to_string(), build.to_string()];
        if view.base.is_none() {
            cells.push(base.to_string());
        }
        if view.arch == ALL {
            cells.push(arch.to_string());
        }
        // A closed channel has neither revision nor size, not even padding.
        cells.push(if rev.is_empty() { String::new() } else { format!("{rev:>rev_width$}") });
        cells.push(if size.is_empty() { String::new() } else { format!("{size:>size_width$}") });
        cells.join("\t")
    };
    out.line(String::new());
    out.bold("CHANNELS".into());
    out.bold(row("CHANNEL", "VERSION", "BUILD", "BASE", "ARCH", "REV", "SIZE"));
    for track in tracks {
        let mut closed = "-";
        for risk in RISKS {
            let channel = format!("{track}/{risk}");
            let Some(revisions) = channels.get(channel.as_str()) else {
                out.line(row(&channel, closed, "", "", "", "", ""));
                continue;
            };
            closed = marks.up();
            let mut previous: Option<&SdkRevision> = None;
            for revision in revisions {
                // Repeated columns are left blank, up to the first that changes.
                let mut same = previous.is_some();
                let mut keep = |equal: bool, text: String| {
                    same = same && equal;
                    if same { String::new() } else { text }
                };
                let first = previous.is_none();
                let version =
                    keep(previous.is_some_and(|p| p.version == revision.version), dash(&revision.version));
                let build = keep(
                    previous.is_some_and(|p| date(p.built_at) == date(revision.built_at)),
                    date(revision.built_at),
                );
                let base =
                    keep(previous.is_some_and(|p| p.base == revision.base), base_or_all(&revision.base));
                let name = if first { channel.as_str() } else { "" };
                let size = byte_size(revision.download_size);
                out.line(row(name, &version, &build, &base, &revision.arch, &revision.revision, &size));
                previous = Some(revision);
            }
        }
    }
}

fn base_or_all(base: &str) -> String {
    if base.is_empty() { "all".into() } else { base.to_string() }
}

fn installed(out: &mut Out, info: &SdkFullInfo, view: &View, home: Option<&str>) {
    let mut shown: Vec<&SdkInstalled> =
        info.installed.iter().filter(|i| view.shows(&i.base, &i.architecture)).collect();
    if shown.is_empty() {
        return;
    }
    shown.sort_by(|a, b| a.project_path.cmp(&b.project_path).then_with(|| a.workshop.cmp(&b.workshop)));
    let rev_width = shown.iter().map(|i| i.tree.revision.chars().count()).max().unwrap_or(0).max(3);
    let row =
        |project: &str, workshop: &str, channel: &str, version: &str, base: &str, arch: &str, rev: &str| {
            let mut cells =
                vec![format!("  {project}"), workshop.to_string(), channel.to_string(), version.to_string()];
            if view.base.is_none() {
                cells.push(base.to_string());
            }
            if view.arch == ALL {
                cells.push(arch.to_string());
            }
            cells.push(format!("{rev:>rev_width$}"));
            cells.join("\t")
        };
    out.line(String::new());
    out.bold("INSTALLED".into());
    out.bold(row("PROJECT", "WORKSHOP", "CHANNEL", "VERSION", "BASE", "ARCH", "REV"));
    for i in shown {
        let project = match home {
            Some(home) => contract_home(&i.project_path, home),
            None => i.project_path.clone(),
        };
        out.line(row(
            &project,
            &i.workshop,
            &dash(&i.channel),
            &i.tree.version,
            &base_or_all(&i.base),
            &i.architecture,
            &i.tree.revision,
        ));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use workshop_api::sdks::{SdkTree, StoreAccount};

    use super::*;

    fn day(d: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2024, 11, d, 0, 0, 0).unwrap())
    }

    fn revision(
        channel: &str,
        rev: &str,
        built: u32,
        version: &str,
        base: &str,
        arch: &str,
        size: u64,
    ) -> SdkRevision {
        let (track, risk) = channel.split_once('/').unwrap();
        SdkRevision {
            channel: channel.into(),
            track: track.into(),
            risk: risk.into(),
            revision: rev.into(),
            built_at: day(built),
            version: version.into(),
            base: base.into(),
            arch: arch.into(),
            download_size: size,
            ..Default::default()
        }
    }

    fn install(
        project: &str,
        workshop: &str,
        channel: &str,
        version: &str,
        base: &str,
        arch: &str,
        rev: &str,
    ) -> SdkInstalled {
        SdkInstalled {
            project_path: project.into(),
            workshop: workshop.into(),
            channel: channel.into(),
            base: base.into(),
            architecture: arch.into(),
            tree: SdkTree {
                name: "openvino".into(),
                version: version.into(),
                revision: rev.into(),
                ..Default::default()
            },
        }
    }

    /// The SDK of the reference's own test of `sdk info` (cmd/sdk/info_test.go).
    fn openvino() -> SdkFullInfo {
        SdkFullInfo {
            name: "openvino".into(),
            package_id: "U9IBEcXiDkuaPLYjyUBpRZMETAr7g39e".into(),
            title: "OpenVINO".into(),
            summary: "Intel OpenVINO toolkit".into(),
            description: "Longer description\ncan be multiline.".into(),
            license: "Apache-2.0".into(),
            website: "https://openvino.ai".into(),
            publisher: Some(StoreAccount {
                id: "ZeW8".into(),
                username: "intel".into(),
                display_name: "Intel".into(),
                validation: "verified".into(),
            }),
            channels: vec![
                revision("latest/stable", "85", 25, "2.1-084c8c8", "ubuntu@24.04", "amd64", 123),
                revision("latest/stable", "86", 25, "2.1-084c8c8", "ubuntu@24.04", "arm64", 1234),
                revision("latest/stable", "87", 25, "2.1-084c8c8", "ubuntu@24.04", "riscv64", 12345),
                revision("latest/stable", "88", 25, "2.1-084c8c8", "ubuntu@26.04", "amd64", 123456),
                revision("latest/stable", "89", 25, "2.1-084c8c8", "ubuntu@26.04", "arm64", 1234567),
                revision("latest/stable", "90", 27, "2.2-c8c8084", "ubuntu@26.04", "riscv64", 12345678),
                revision("latest/edge", "91", 20, "2.0", "", "all", 12345678),
            ],
            installed: vec![
                install(
                    "/home/u/work/nav2",
                    "ci",
                    "latest/stable",
                    "2.1-084c8c8",
                    "ubuntu@24.04",
                    "amd64",
                    "85",
                ),
                install(
                    "/home/u/work/nav2",
                    "dev",
                    "latest/stable",
                    "2.1-084c8c8",
                    "ubuntu@24.04",
                    "amd64",
                    "85",
                ),
                install("/home/u/work/lerobot", "dev", "latest/edge", "2.0", "", "all", "82"),
            ],
        }
    }

    fn view(base: Option<&str>, arch: &str) -> View {
        View { base: base.map(str::to_string), arch: arch.into() }
    }

    #[test]
    fn every_architecture_in_an_arch_column() {
        let text = render(&openvino(), &view(None, "all"), &Marks::PLAIN, Some("/home/u"));
        let closed = |risk: &str| format!("  latest/{risk:<11}^{}", " ".repeat(52));
        let want = [
            "name:       openvino",
            "publisher:  Intel**",
            "license:    Apache-2.0",
            "website:    https://openvino.ai",
            "",
            "Longer description",
            "can be multiline.",
            "",
            "CHANNELS",
            "  CHANNEL           VERSION      BUILD       BASE          ARCH     REV      SIZE",
            "  latest/stable     2.1-084c8c8  2024-11-25  ubuntu@26.04  amd64     88  123.46kB",
            "                                                           arm64     89    1.23MB",
            "                    2.2-c8c8084  2024-11-27  ubuntu@26.04  riscv64   90   12.35MB",
            "                    2.1-084c8c8  2024-11-25  ubuntu@24.04  amd64     85      123B",
            "                                                           arm64     86    1.23kB",
            "                                                           riscv64   87   12.35kB",
            &closed("candidate"),
            &closed("beta"),
            "  latest/edge       2.0          2024-11-20  all           all       91   12.35MB",
            "",
            "INSTALLED",
            "  PROJECT         WORKSHOP  CHANNEL        VERSION      BASE          ARCH   REV",
            "  ~/work/lerobot  dev       latest/edge    2.0          all           all     82",
            "  ~/work/nav2     ci        latest/stable  2.1-084c8c8  ubuntu@24.04  amd64   85",
            "  ~/work/nav2     dev       latest/stable  2.1-084c8c8  ubuntu@24.04  amd64   85",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), want);
        assert!(text.ends_with("  85\n"));
    }

    #[test]
    fn one_architecture_and_one_base() {
        let text = render(&openvino(), &view(None, "riscv64"), &Marks::PLAIN, Some("/home/u"));
        let channels: Vec<&str> = text.lines().skip_while(|l| *l != "CHANNELS").collect();
        assert_eq!(
            channels,
            [
                "CHANNELS",
                "  CHANNEL           VERSION      BUILD       BASE          REV     SIZE",
                "  latest/stable     2.2-c8c8084  2024-11-27  ubuntu@26.04   90  12.35MB",
                "                    2.1-084c8c8  2024-11-25  ubuntu@24.04   87  12.35kB",
                "  latest/candidate  ^                                           ",
                "  latest/beta       ^                                           ",
                "  latest/edge       2.0          2024-11-20  all            91  12.35MB",
                "",
                "INSTALLED",
                "  PROJECT         WORKSHOP  CHANNEL      VERSION  BASE  REV",
                "  ~/work/lerobot  dev       latest/edge  2.0      all    82",
            ]
        );
        let text = render(&openvino(), &view(Some("ubuntu@24.04"), "amd64"), &Marks::PLAIN, None);
        let channels: Vec<&str> = text.lines().skip_while(|l| *l != "CHANNELS").take(6).collect();
        assert_eq!(
            channels,
            [
                "CHANNELS",
                "  CHANNEL           VERSION      BUILD       REV     SIZE",
                "  latest/stable     2.1-084c8c8  2024-11-25   85     123B",
                "  latest/candidate  ^                             ",
                "  latest/beta       ^                             ",
                "  latest/edge       2.0          2024-11-20   91  12.35MB",
            ]
        );
        assert!(
            text.contains("  /home/u/work/nav2     ci        latest/stable  2.1-084c8c8   85\n"),
            "{text}"
        );
    }

    #[test]
    fn an_sdk_with_nothing_but_a_name() {
        let info = SdkFullInfo {
            name: "openvimo".into(),
            publisher: Some(StoreAccount {
                username: "hunter2".into(),
                display_name: "Hunter Two".into(),
                validation: "unproven".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            render(&info, &view(None, "amd64"), &Marks::PLAIN, None),
            "name:       openvimo\npublisher:  Hunter Two (hunter2)\n"
        );
        let bold = render(&openvino(), &view(None, "all"), &Marks { unicode: true, color: true }, None);
        assert!(
            bold.contains("\x1b[1mCHANNELS\x1b[0m\n") && bold.contains("  latest/candidate  ↑"),
            "{bold}"
        );
    }
}
