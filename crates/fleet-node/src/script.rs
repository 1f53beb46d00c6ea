//! Startup scripts: base64 as the controller got them, run with `sh` in the instance's container
//! once it has started, with a time limit; their outcome is the Anka Controller's script result.

use base64::Engine;
use bollard::exec::{CreateExecOptions, StartExecResults};
use fleet::ScriptResult;
use futures_util::StreamExt;
use std::time::Duration;

/// How long a script may run when the instance sets no limit.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// What a script's output keeps at most of each stream.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Runs the base64 `script` with `sh -c` in `container`.
pub(crate) async fn run(docker: &bollard::Docker, container: &str, script: &str, timeout: Duration) -> ScriptResult {
    let source = match decode(script) {
        Ok(source) => source,
        Err(why) => return failed(why),
    };
    let options = CreateExecOptions::<String> {
        cmd: Some(vec!["sh".into(), "-c".into(), source]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = match docker.create_exec(container, options).await {
        Ok(exec) => exec,
        Err(e) => return failed(format!("can't run the script: {e}")),
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let output = async {
        match docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                while let Some(chunk) = output.next().await {
                    match chunk {
                        Ok(bollard::container::LogOutput::StdErr { message }) => push(&mut stderr, &message),
                        Ok(other) => push(&mut stdout, &other.into_bytes()),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(())
            }
            Ok(StartExecResults::Detached) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    };
    let finished = tokio::time::timeout(timeout, output).await;
    let mut result = ScriptResult { return_code: -1, ..Default::default() };
    match finished {
        Err(_) => result.did_timeout = true,
        Ok(Err(e)) => result.errors.push(format!("the script's output broke off: {e}")),
        Ok(Ok(())) => match docker.inspect_exec(&exec.id).await {
            Ok(inspect) => result.return_code = inspect.exit_code.unwrap_or(-1),
            Err(e) => result.errors.push(format!("can't read the script's exit code: {e}")),
        },
    }
    result.stdout = stdout;
    result.stderr = stderr;
    result
}

/// Whether a script's result fails its instance when the script is monitored.
pub(crate) fn failed_instance(result: &ScriptResult) -> bool {
    result.did_timeout || result.return_code != 0 || !result.errors.is_empty()
}

fn decode(script: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(script.trim())
        .map_err(|e| format!("the startup script is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "the startup script is not UTF-8 text".to_owned())
}

fn failed(why: String) -> ScriptResult {
    ScriptResult { return_code: -1, errors: vec![why], ..Default::default() }
}

fn push(buffer: &mut String, bytes: &[u8]) {
    if buffer.len() < OUTPUT_LIMIT {
        let room = OUTPUT_LIMIT - buffer.len();
        buffer.push_str(&String::from_utf8_lossy(&bytes[..bytes.len().min(room)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_base64_text() {
        assert_eq!(decode("ZWNobyBoaQ==").as_deref(), Ok("echo hi"));
        assert!(decode("not base64!").is_err());
        assert!(decode("/w==").is_err(), "not UTF-8");
    }

    #[test]
    fn a_monitored_script_fails_its_instance_on_a_non_zero_exit_a_timeout_or_an_error() {
        let ok = ScriptResult { return_code: 0, ..Default::default() };
        assert!(!failed_instance(&ok));
        assert!(failed_instance(&ScriptResult { return_code: 3, ..ok.clone() }));
        assert!(failed_instance(&ScriptResult { did_timeout: true, ..ok.clone() }));
        assert!(failed_instance(&failed("broken".into())));
    }

    #[test]
    fn output_is_kept_up_to_its_limit() {
        let mut buffer = String::new();
        push(&mut buffer, &vec![b'a'; OUTPUT_LIMIT + 10]);
        push(&mut buffer, b"more");
        assert_eq!(buffer.len(), OUTPUT_LIMIT);
    }
}
