//! Running a program with no network at all: a new network namespace that has no interface
//! but loopback (down). As root that is `unshare -n`; an unprivileged user gets the same from
//! `unshare -rn` (a user namespace that maps them to root inside it) where the kernel allows
//! unprivileged user namespaces. Which one works is probed once per run.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The `unshare` arguments that cut the network here, or why none does.
fn isolation() -> &'static Result<&'static [&'static str], String> {
    static PROBED: OnceLock<Result<&'static [&'static str], String>> = OnceLock::new();
    PROBED.get_or_init(|| {
        let mut tried = Vec::new();
        for args in [&["-n"][..], &["-rn"][..]] {
            let outcome = Command::new("unshare")
                .args(args)
                .arg("true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            match outcome {
                Ok(output) if output.status.success() => return Ok(args),
                Ok(output) => tried.push(format!(
                    "`unshare {}`: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(error) => tried.push(format!("`unshare {}`: {error}", args.join(" "))),
            }
        }
        Err(format!(
            "tried {} (run as root, or allow unprivileged user namespaces)",
            tried.join("; ")
        ))
    })
}

/// A command that runs `program` with no network, or why this machine cannot.
pub fn offline(program: impl AsRef<std::ffi::OsStr>) -> Result<Command, String> {
    let args = isolation().as_ref().map_err(Clone::clone)?;
    let mut command = Command::new("unshare");
    command.args(*args).arg("--").arg(program);
    Ok(command)
}

/// Whether this machine can cut a program's network.
pub fn can_isolate() -> bool {
    isolation().is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_isolated_program_has_no_network_interface_up() {
        let Ok(mut command) = super::offline("cat") else {
            // Neither form works on this machine (no root, no user namespaces): nothing to
            // check here; the e2e tests that need isolation say so under AIRLOCK_TESTS_NO_SKIP.
            return;
        };
        let output = command.arg("/proc/net/dev").output().unwrap();
        let devices = String::from_utf8_lossy(&output.stdout);
        // Two header lines, then the interfaces: loopback alone.
        let interfaces: Vec<&str> = devices
            .lines()
            .skip(2)
            .filter_map(|line| line.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(interfaces, ["lo"], "{devices}");
    }
}
