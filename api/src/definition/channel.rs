//! Store channel grammar: `track`, `risk`, `track/risk`, `risk/branch`, `track/risk/branch`.

/// Longest accepted track.
pub const MAX_TRACK_LENGTH: usize = 28;
/// Longest accepted branch.
pub const MAX_BRANCH_LENGTH: usize = 128;
/// The risk levels, from the most to the least stable.
pub const RISKS: [&str; 4] = ["stable", "candidate", "beta", "edge"];

/// A parsed channel; empty parts were not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub track: String,
    pub risk: String,
    pub branch: String,
}

impl Channel {
    /// Parses a channel with the reference's messages (`invalid risk "x" in channel "y"`).
    pub fn parse(channel: &str) -> Result<Channel, String> {
        let parts: Vec<&str> = channel.split('/').collect();
        let is_risk = |s: &str| RISKS.contains(&s);
        let (track, risk, branch) = match parts.as_slice() {
            [one] if is_risk(one) => (None, Some(*one), None),
            [one] => (Some(*one), None, None),
            [first, second] if is_risk(first) => (None, Some(*first), Some(*second)),
            [first, second] => (Some(*first), Some(*second), None),
            [track, risk, branch] => (Some(*track), Some(*risk), Some(*branch)),
            _ => return Err(format!("channel \"{channel}\" has too many components")),
        };
        if let Some(track) = track
            && (track.len() > MAX_TRACK_LENGTH || !is_valid_track(track) || is_risk(track))
        {
            return Err(format!("invalid track \"{track}\" in channel \"{channel}\""));
        }
        if let Some(risk) = risk
            && !is_risk(risk)
        {
            return Err(format!("invalid risk \"{risk}\" in channel \"{channel}\""));
        }
        if let Some(branch) = branch
            && (branch.len() > MAX_BRANCH_LENGTH || !is_valid_branch(branch) || is_risk(branch))
        {
            return Err(format!("invalid branch \"{branch}\" in channel \"{channel}\""));
        }
        Ok(Channel {
            track: track.unwrap_or_default().to_string(),
            risk: risk.unwrap_or_default().to_string(),
            branch: branch.unwrap_or_default().to_string(),
        })
    }

    /// The channel with the defaults filled in (`latest`, `stable`), e.g. `latest/stable`.
    pub fn full(&self) -> String {
        let track = if self.track.is_empty() { "latest" } else { &self.track };
        let risk = if self.risk.is_empty() { "stable" } else { &self.risk };
        if self.branch.is_empty() {
            format!("{track}/{risk}")
        } else {
            format!("{track}/{risk}/{}", self.branch)
        }
    }
}

/// `^[a-zA-Z0-9](?:[_.-]?[a-zA-Z0-9])*$`
fn is_valid_track(track: &str) -> bool {
    let mut previous_separator = true;
    for b in track.bytes() {
        if b.is_ascii_alphanumeric() {
            previous_separator = false;
        } else if matches!(b, b'_' | b'.' | b'-') && !previous_separator {
            previous_separator = true;
        } else {
            return false;
        }
    }
    !previous_separator
}

/// `^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]$`
fn is_valid_branch(branch: &str) -> bool {
    let bytes = branch.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(channel: &str) -> (String, String, String) {
        let c = Channel::parse(channel).unwrap();
        (c.track, c.risk, c.branch)
    }

    #[test]
    fn the_five_forms_parse() {
        let s = |x: &str| x.to_string();
        assert_eq!(parts("latest"), (s("latest"), s(""), s("")));
        assert_eq!(parts("edge"), (s(""), s("edge"), s("")));
        assert_eq!(parts("cpu/stable"), (s("cpu"), s("stable"), s("")));
        assert_eq!(parts("beta/fix-1"), (s(""), s("beta"), s("fix-1")));
        assert_eq!(parts("1.0/candidate/hot"), (s("1.0"), s("candidate"), s("hot")));
    }

    #[test]
    fn full_fills_in_defaults() {
        assert_eq!(Channel::parse("edge").unwrap().full(), "latest/edge");
        assert_eq!(Channel::parse("cpu").unwrap().full(), "cpu/stable");
        assert_eq!(Channel::parse("beta/b1").unwrap().full(), "latest/beta/b1");
    }

    #[test]
    fn bad_channels_are_explained() {
        let err = |c: &str| Channel::parse(c).unwrap_err();
        assert_eq!(err("a/b/c/d"), "channel \"a/b/c/d\" has too many components");
        assert_eq!(err("cpu/unstable"), "invalid risk \"unstable\" in channel \"cpu/unstable\"");
        assert_eq!(err(""), "invalid track \"\" in channel \"\"");
        assert_eq!(err("a..b"), "invalid track \"a..b\" in channel \"a..b\"");
        assert_eq!(err("-a"), "invalid track \"-a\" in channel \"-a\"");
        assert_eq!(err("a_"), "invalid track \"a_\" in channel \"a_\"");
        assert_eq!(err("stable/stable/x"), "invalid track \"stable\" in channel \"stable/stable/x\"");
        assert_eq!(err("edge/b"), "invalid branch \"b\" in channel \"edge/b\"");
        assert_eq!(err("t/edge/beta"), "invalid branch \"beta\" in channel \"t/edge/beta\"");
        assert_eq!(err("t/edge/a_b"), "invalid branch \"a_b\" in channel \"t/edge/a_b\"");
        let track = "a".repeat(29);
        assert_eq!(err(&track), format!("invalid track \"{track}\" in channel \"{track}\""));
        assert!(Channel::parse(&"a".repeat(28)).is_ok());
        let branch = format!("edge/{}", "b".repeat(129));
        assert!(Channel::parse(&branch).unwrap_err().starts_with("invalid branch"));
        assert!(Channel::parse(&format!("edge/{}", "b".repeat(128))).is_ok());
    }
}
