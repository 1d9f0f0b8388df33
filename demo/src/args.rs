//! Command-line options (see docs/DEMO-SERVER.md). Hand-parsed: a dozen flags do not
//! justify a parser dependency.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the command line can set.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub host: IpAddr,
    pub app_port: u16,
    pub api_port: u16,
    pub other_port: u16,
    pub dist: PathBuf,
    pub static_dir: PathBuf,
    pub test_hooks: bool,
    pub quiet: bool,
}

/// What parsing produced: options to run with, or a request for the help text.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// A command line we cannot run with.
#[derive(Debug, PartialEq)]
pub enum ArgsError {
    MissingValue(String),
    BadValue { flag: String, value: String },
    Unknown(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ArgsError::BadValue { flag, value } => write!(f, "{flag}: bad value {value:?}"),
            ArgsError::Unknown(flag) => write!(f, "unknown option {flag:?} (try --help)"),
        }
    }
}

pub const HELP: &str = "\
lockstep-demo: HTTPS dev/test server for Lockstep (docs/DEMO-SERVER.md)

Options:
  --cert PATH        certificate PEM            [certs/lockstep.pem]
  --key PATH         private key PEM            [certs/lockstep-key.pem]
  --host IP          address to bind            [127.0.0.1]
  --app-port N       app origin port            [8443]
  --api-port N       API origin port            [8444]
  --other-port N     'elsewhere' origin port    [8445]
  --dist DIR         Lockstep build output      [dist]
  --static DIR       demo pages                 [demo/static of this crate]
  --test-hooks       enable /__test/* on every port
  --quiet            no request log
  -h, --help         this text

Ports 0 pick free ports. Prints `LOCKSTEP_DEMO_READY {\"app\":..,\"api\":..,\"other\":..}` on
stdout once listening; the request log goes to stderr.
";

impl Default for Args {
    fn default() -> Self {
        Args {
            cert: PathBuf::from("certs/lockstep.pem"),
            key: PathBuf::from("certs/lockstep-key.pem"),
            host: IpAddr::from([127, 0, 0, 1]),
            app_port: 8443,
            api_port: 8444,
            other_port: 8445,
            dist: PathBuf::from("dist"),
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            test_hooks: false,
            quiet: false,
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Parsed, ArgsError> {
    let mut args = Args::default();
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        let mut value = || -> Result<String, ArgsError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| ArgsError::MissingValue(name.clone())),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--cert" => args.cert = PathBuf::from(value()?),
            "--key" => args.key = PathBuf::from(value()?),
            "--dist" => args.dist = PathBuf::from(value()?),
            "--static" => args.static_dir = PathBuf::from(value()?),
            "--host" => args.host = parse_value(&name, value()?)?,
            "--app-port" => args.app_port = parse_value(&name, value()?)?,
            "--api-port" => args.api_port = parse_value(&name, value()?)?,
            "--other-port" => args.other_port = parse_value(&name, value()?)?,
            "--test-hooks" => args.test_hooks = true,
            "--quiet" => args.quiet = true,
            _ => return Err(ArgsError::Unknown(flag)),
        }
    }
    Ok(Parsed::Run(args))
}

fn parse_value<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, ArgsError> {
    value.parse().map_err(|_| ArgsError::BadValue { flag: flag.to_string(), value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, ArgsError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_overrides() {
        let Ok(Parsed::Run(a)) = run(&["--app-port", "0", "--api-port=9", "--test-hooks"]) else {
            panic!("should parse");
        };
        assert_eq!((a.app_port, a.api_port, a.other_port), (0, 9, 8445));
        assert!(a.test_hooks && !a.quiet);
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(run(&["--app-port"]), Err(ArgsError::MissingValue("--app-port".into())));
        assert!(matches!(run(&["--host", "nope"]), Err(ArgsError::BadValue { .. })));
        assert_eq!(run(&["--bogus"]), Err(ArgsError::Unknown("--bogus".into())));
        assert_eq!(run(&["--help"]), Ok(Parsed::Help));
    }
}
