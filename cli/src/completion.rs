//! The shell scripts that register dynamic completion of the `workshop` and `sdk` binaries:
//! each calls back into the binary of its name found on the PATH
//! (`COMPLETE=<shell> <bin> -- <words>`), so a snap refresh does not break it.

use std::io::Write;

use clap_complete::env::{Bash, EnvCompleter, Fish, Powershell, Zsh};

/// The environment variable the registration scripts set.
pub const VAR: &str = "COMPLETE";

/// Writes the registration script of `shell` for binary `bin`. The same script works sourced
/// (`source <(workshop completion zsh)`) and installed where the shell looks for completions
/// (`make install`, the snap's configure hook): installed in `$fpath` as `_<bin>`, compinit
/// autoloads the file as the body of `_<bin>` on the first completion, which must then
/// complete too (not only define the completer and register it for the next time); sourced,
/// that tail does nothing.
pub fn write_script(shell: clap_complete::Shell, bin: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::PowerShell => &Powershell,
        _ => &Fish,
    };
    if shell == clap_complete::Shell::Bash {
        // Named as the reference's (cobra's) function, which scripts drive by that name.
        let mut script = Vec::new();
        completer.write_registration(VAR, bin, bin, bin, &mut script)?;
        let name = bin.replace('-', "_");
        let script = String::from_utf8_lossy(&script)
            .replace(&format!("_clap_complete_{name}"), &format!("__start_{name}"));
        return out.write_all(script.as_bytes());
    }
    completer.write_registration(VAR, bin, bin, bin, out)?;
    if shell == clap_complete::Shell::Zsh {
        let name = bin.replace('-', "_");
        write!(
            out,
            "\nif [[ ${{funcstack[1]-}} == _{bin} ]]; then\n    _clap_dynamic_completer_{name} \"$@\"\nfi\n"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_call_back_into_their_binary() {
        for bin in ["workshop", "sdk"] {
            for shell in [
                clap_complete::Shell::Bash,
                clap_complete::Shell::Zsh,
                clap_complete::Shell::Fish,
                clap_complete::Shell::PowerShell,
            ] {
                let mut out = Vec::new();
                write_script(shell, bin, &mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                assert!(text.contains(VAR) && text.contains(bin), "{shell:?} {bin}: {text}");
            }
            let mut out = Vec::new();
            write_script(clap_complete::Shell::Bash, bin, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(&format!("-F __start_{bin} {bin}")), "{text}");
            assert!(!text.contains("_clap_complete_"), "{text}");
            let mut out = Vec::new();
            write_script(clap_complete::Shell::Zsh, bin, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(&format!("== _{bin} ]]")), "{text}");
            assert!(text.contains(&format!("_clap_dynamic_completer_{bin} \"$@\"")), "{text}");
        }
    }
}
